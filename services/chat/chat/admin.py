"""Staff catalog management: AI models and chatbots with their plan links (api.md §5)."""

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func
from sqlmodel import col, delete, select

from chat.models import AiModel, AiModelPlan, Chatbot, ChatbotPlan, ChatSession
from chat.openrouter_models import ListedModel
from chat.views import chatbot_out, model_out
from shared.bounds import (
    MAX_DESCRIPTION_CHARS,
    MAX_IMAGE_URL_CHARS,
    MAX_MODEL_TOKENS,
    MAX_NAME_CHARS,
    MAX_PRICE_USD_PER_MTOK,
    MAX_SYSTEM_PROMPT_CHARS,
    MAX_TOKEN_COST_MULTIPLIER,
    MIN_MODEL_TOKENS,
    MULTIPLIER_PLACES,
    PRICE_PLACES,
)
from shared.contracts import chat as c
from shared.db import SessionFactory, transaction
from shared.errors import Conflict, NotFound, UpstreamFailed, ValidationFailed
from shared.media import image_reference_ok
from shared.text import ENGLISH as TEXT_PROBLEMS
from shared.text import text_problem

MODEL_DEFAULTS: dict[str, Any] = {
    "description": "", "model_type": "text", "is_active": True, "is_free": False,
    "token_cost_multiplier": Decimal("1.00"), "context_tokens": 16_000, "max_reply_tokens": 1_024,
    "prompt_price_usd_per_mtok": None, "completion_price_usd_per_mtok": None, "fallback_model_ids": [],
    "subscription_type_ids": [],
}
MODEL_REQUIRED = ("name", "model_id")
CHATBOT_DEFAULTS: dict[str, Any] = {
    "description": "", "image": None, "is_active": True, "system_prompt": "", "chatbot_type": "text",
    "subscription_type_ids": [], "default_model_id": None,
}
CHATBOT_REQUIRED = ("name",)
IMAGE_RULE = "Enter a path under /media/ or an https:// URL."


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _merge(existing: dict[str, Any] | None, q: c.SaveAiModel | c.SaveChatbot, defaults: dict, required: tuple) -> dict:
    """POST fills omitted optional fields with defaults; PUT replaces the whole object, so every
    writable field must be sent (never a silent reset to a default); PATCH changes only what was sent."""
    sent = q.fields.sent()
    if existing is not None and not q.partial:
        missing = [k for k in (*required, *defaults) if k not in sent]
        if missing:
            raise ValidationFailed("Required fields are missing.", fields={k: ["This field is required."] for k in missing})
    base = dict(existing) if (existing is not None and q.partial) else dict(defaults)
    base.update(sent)
    missing = [k for k in required if not base.get(k)]
    if missing:
        raise ValidationFailed("Required fields are missing.", fields={k: ["This field is required."] for k in missing})
    return base


def _check_text(data: dict[str, Any], limits: dict[str, int], optional: tuple[str, ...] = ()) -> None:
    """The shared text rule and lengths again behind the gateway: a NUL must never reach the insert."""
    for field, most in limits.items():
        value = data[field]
        if value is None and field in optional:
            continue
        if not isinstance(value, str):
            raise _invalid(field, "Not a valid string.")
        problem = text_problem(value, blank_ok=field in ("description", "system_prompt"))
        if problem is not None:
            raise _invalid(field, TEXT_PROBLEMS[problem])
        if len(value) > most:
            raise _invalid(field, f"Ensure this field has no more than {most} characters.")


def _decimal(value: Any, field: str, *, nullable: bool) -> Decimal | None:
    if value is None and nullable:
        return None
    multiplier = field == "token_cost_multiplier"
    top, places = (MAX_TOKEN_COST_MULTIPLIER, MULTIPLIER_PLACES) if multiplier else (MAX_PRICE_USD_PER_MTOK, PRICE_PLACES)
    try:
        number = Decimal(str(value)).quantize(Decimal(1).scaleb(-places))
    except (InvalidOperation, ValueError) as exc:
        raise _invalid(field, "A decimal number is required.") from exc
    if number < 0 or number > top:
        raise _invalid(field, f"Must be between 0 and {top}.")
    return number


def _price(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    value = value.quantize(Decimal(1).scaleb(-PRICE_PLACES))
    return value if value <= MAX_PRICE_USD_PER_MTOK else None


def _apply_listing(model: AiModel, found: ListedModel) -> dict[str, list]:
    """Set what OpenRouter says on `model`; returns field -> [old, new] (JSON values) of what changed."""
    wanted: dict[str, Any] = {}
    if found.name and text_problem(found.name) is None:
        wanted["name"] = found.name[:MAX_NAME_CHARS]
    if found.context_length is not None and MIN_MODEL_TOKENS <= found.context_length <= MAX_MODEL_TOKENS:
        wanted["context_tokens"] = found.context_length
    for field, price in (("prompt_price_usd_per_mtok", found.prompt_usd_per_mtok),
                         ("completion_price_usd_per_mtok", found.completion_usd_per_mtok)):
        if (value := _price(price)) is not None:
            wanted[field] = value
    cap = found.max_completion_tokens
    if cap is not None and MIN_MODEL_TOKENS <= cap < model.max_reply_tokens:
        wanted["max_reply_tokens"] = cap  # a cap above the provider's would be refused upstream
    changes = {}
    for field, new in wanted.items():
        old = getattr(model, field)
        if old is None or (Decimal(old) != Decimal(new) if isinstance(new, Decimal) else old != new):
            changes[field] = [_json(old), _json(new)]
            setattr(model, field, new)
    return changes


def _json(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


class CatalogAdmin:
    def __init__(self, factory: SessionFactory,
                 openrouter_models: Callable[[], Awaitable[list[ListedModel]]] | None = None) -> None:
        self.factory = factory
        self.openrouter_models = openrouter_models  # OpenRouter's model list (chat.openrouter_models)

    # --- AI models ---------------------------------------------------------------------------
    async def _model_view(self, s, model: AiModel) -> c.AdminAiModel:  # noqa: ANN001
        plans = (await s.exec(select(AiModelPlan.plan_id).where(AiModelPlan.ai_model_id == model.id))).all()
        return c.AdminAiModel(
            **model_out(model).model_dump(), subscription_type_ids=sorted(plans),
            context_tokens=model.context_tokens, max_reply_tokens=model.max_reply_tokens,
            prompt_price_usd_per_mtok=model.prompt_price_usd_per_mtok,
            completion_price_usd_per_mtok=model.completion_price_usd_per_mtok,
            fallback_model_ids=[f for f in model.fallback_model_ids.split(",") if f],
        )

    async def list_models(self) -> list[c.AdminAiModel]:
        async with self.factory() as s:
            return [await self._model_view(s, m) for m in (await s.exec(select(AiModel).order_by(AiModel.id))).all()]

    async def get_model(self, q: c.AdminItem) -> c.AdminAiModel:
        async with self.factory() as s:
            model = await s.get(AiModel, q.item_id)
            if model is None:
                raise NotFound()
            return await self._model_view(s, model)

    async def save_model(self, q: c.SaveAiModel) -> c.AdminAiModel:
        async with transaction(self.factory) as s:
            model = AiModel(name="", model_id="")
            existing = None
            if q.item_id is not None:
                model = await s.get(AiModel, q.item_id)
                if model is None:
                    raise NotFound()
                existing = (await self._model_view(s, model)).model_dump()
            data = _merge(existing, q, MODEL_DEFAULTS, MODEL_REQUIRED)
            if data["model_type"] not in ("text", "image"):
                raise _invalid("model_type", 'Must be "text" or "image".')
            clash = (await s.exec(select(AiModel.id).where(AiModel.model_id == data["model_id"]))).first()
            if clash is not None and clash != model.id:
                raise _invalid("model_id", "An AI model with this model_id already exists.")
            _check_text(data, {"name": MAX_NAME_CHARS, "description": MAX_DESCRIPTION_CHARS})
            for field in ("context_tokens", "max_reply_tokens"):
                if not isinstance(data[field], int) or not MIN_MODEL_TOKENS <= data[field] <= MAX_MODEL_TOKENS:
                    raise _invalid(field, f"Must be a whole number from {MIN_MODEL_TOKENS} to {MAX_MODEL_TOKENS}.")
            model.name, model.model_id, model.description = data["name"], data["model_id"], data["description"]
            model.model_type, model.is_active, model.is_free = data["model_type"], data["is_active"], data["is_free"]
            model.token_cost_multiplier = _decimal(data["token_cost_multiplier"], "token_cost_multiplier", nullable=False)
            model.context_tokens, model.max_reply_tokens = data["context_tokens"], data["max_reply_tokens"]
            model.prompt_price_usd_per_mtok = _decimal(data["prompt_price_usd_per_mtok"], "prompt_price_usd_per_mtok", nullable=True)
            model.completion_price_usd_per_mtok = _decimal(
                data["completion_price_usd_per_mtok"], "completion_price_usd_per_mtok", nullable=True
            )
            model.fallback_model_ids = ",".join(data["fallback_model_ids"])
            s.add(model)
            await s.flush()
            await s.exec(delete(AiModelPlan).where(col(AiModelPlan.ai_model_id) == model.id))
            for plan_id in sorted(set(data["subscription_type_ids"])):
                s.add(AiModelPlan(ai_model_id=model.id, plan_id=plan_id))
            await s.flush()
            return await self._model_view(s, model)

    async def delete_model(self, q: c.AdminItem) -> None:
        async with transaction(self.factory) as s:
            model = await s.get(AiModel, q.item_id)
            if model is None:
                raise NotFound()
            used = (await s.exec(select(func.count()).select_from(ChatSession).where(ChatSession.ai_model_id == model.id))).one()
            default_of = (await s.exec(select(func.count()).select_from(Chatbot).where(Chatbot.default_model_id == model.id))).one()
            if used or default_of:
                raise Conflict(
                    "This AI model is used by chat sessions or chatbots; set is_active to false instead.", code="in_use"
                )
            await s.exec(delete(AiModelPlan).where(col(AiModelPlan.ai_model_id) == model.id))
            await s.delete(model)

    # --- sync from OpenRouter ----------------------------------------------------------------
    async def sync_from_openrouter(self) -> c.ModelsSynced:
        if self.openrouter_models is None:
            raise UpstreamFailed("No OpenRouter model list is configured.")
        return await self.sync_models(await self.openrouter_models())

    async def sync_models(self, listed: list[ListedModel]) -> c.ModelsSynced:
        """Fill name, context length and prices of the catalog models whose model_id OpenRouter lists,
        and lower a reply cap above the provider's; values outside the catalog's bounds are skipped.
        Running it again changes nothing."""
        by_id = {m.id: m for m in listed}
        updated, unchanged = [], 0
        async with transaction(self.factory) as s:
            models = list((await s.exec(select(AiModel).order_by(AiModel.id))).all())
            for model in models:
                found = by_id.get(model.model_id)
                if found is None:
                    continue
                changes = _apply_listing(model, found)
                if changes:
                    s.add(model)
                    updated.append(c.SyncedModel(id=model.id, openrouter_id=model.model_id, changes=changes))
                else:
                    unchanged += 1
        known = {m.model_id for m in models}
        return c.ModelsSynced(updated=updated, unchanged=unchanged,
                              not_in_catalog=sorted(m.id for m in listed if m.id not in known))

    # --- chatbots ----------------------------------------------------------------------------
    async def _chatbot_view(self, s, bot: Chatbot) -> c.AdminChatbot:  # noqa: ANN001
        plans = (await s.exec(select(ChatbotPlan.plan_id).where(ChatbotPlan.chatbot_id == bot.id))).all()
        default = await s.get(AiModel, bot.default_model_id) if bot.default_model_id else None
        return c.AdminChatbot(
            **chatbot_out(bot).model_dump(), subscription_type_ids=sorted(plans),
            default_model_id=default.model_id if default else None,
        )

    async def list_chatbots(self) -> list[c.AdminChatbot]:
        async with self.factory() as s:
            return [await self._chatbot_view(s, b) for b in (await s.exec(select(Chatbot).order_by(Chatbot.id))).all()]

    async def get_chatbot(self, q: c.AdminItem) -> c.AdminChatbot:
        async with self.factory() as s:
            bot = await s.get(Chatbot, q.item_id)
            if bot is None:
                raise NotFound()
            return await self._chatbot_view(s, bot)

    async def save_chatbot(self, q: c.SaveChatbot) -> c.AdminChatbot:
        async with transaction(self.factory) as s:
            bot = Chatbot(name="")
            existing = None
            if q.item_id is not None:
                bot = await s.get(Chatbot, q.item_id)
                if bot is None:
                    raise NotFound()
                existing = (await self._chatbot_view(s, bot)).model_dump()
            data = _merge(existing, q, CHATBOT_DEFAULTS, CHATBOT_REQUIRED)
            if data["chatbot_type"] not in ("text", "image"):
                raise _invalid("chatbot_type", 'Must be "text" or "image".')
            _check_text(data, {"name": MAX_NAME_CHARS, "description": MAX_DESCRIPTION_CHARS,
                               "system_prompt": MAX_SYSTEM_PROMPT_CHARS, "image": MAX_IMAGE_URL_CHARS}, optional=("image",))
            if data["image"] is not None and not image_reference_ok(data["image"]):
                raise _invalid("image", IMAGE_RULE)
            default_pk = None
            if data["default_model_id"]:
                default = (await s.exec(select(AiModel).where(AiModel.model_id == data["default_model_id"]))).first()
                if default is None:
                    raise _invalid("default_model_id", "Unknown AI model.")
                if default.model_type != data["chatbot_type"]:
                    raise _invalid("default_model_id", f"A {data['chatbot_type']} chatbot needs a {data['chatbot_type']} model.")
                default_pk = default.id
            bot.name, bot.description, bot.image = data["name"], data["description"], data["image"]
            bot.is_active, bot.system_prompt, bot.chatbot_type = data["is_active"], data["system_prompt"], data["chatbot_type"]
            bot.default_model_id = default_pk
            s.add(bot)
            await s.flush()
            await s.exec(delete(ChatbotPlan).where(col(ChatbotPlan.chatbot_id) == bot.id))
            for plan_id in sorted(set(data["subscription_type_ids"])):
                s.add(ChatbotPlan(chatbot_id=bot.id, plan_id=plan_id))
            await s.flush()
            return await self._chatbot_view(s, bot)

    async def delete_chatbot(self, q: c.AdminItem) -> None:
        async with transaction(self.factory) as s:
            bot = await s.get(Chatbot, q.item_id)
            if bot is None:
                raise NotFound()
            used = (await s.exec(select(func.count()).select_from(ChatSession).where(ChatSession.chatbot_id == bot.id))).one()
            if used:
                raise Conflict("This chatbot has chat sessions; set is_active to false instead.", code="in_use")
            await s.exec(delete(ChatbotPlan).where(col(ChatbotPlan.chatbot_id) == bot.id))
            await s.delete(bot)
