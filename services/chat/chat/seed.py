"""The starter catalog of business-rules §7, created on first start (operators edit it later)."""

from decimal import Decimal

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.models import AiModel, AiModelPlan, Chatbot, ChatbotPlan

# Plan ids as the billing service seeds them.
FREE, BASIC, PREMIUM = 1, 2, 3

MODELS = [
    dict(name="GPT-4 Turbo", model_id="openai/gpt-4-turbo", description="OpenAI's GPT-4 Turbo: strong reasoning and long context.",
         is_free=False, token_cost_multiplier=Decimal("1.00"), context_tokens=128_000, max_reply_tokens=2_048,
         prompt_price_usd_per_mtok=Decimal("10"), completion_price_usd_per_mtok=Decimal("30"), plans=[PREMIUM]),
    dict(name="Claude 3 Opus", model_id="anthropic/claude-3-opus", description="Anthropic's most capable Claude 3 model.",
         is_free=False, token_cost_multiplier=Decimal("1.00"), context_tokens=200_000, max_reply_tokens=2_048,
         prompt_price_usd_per_mtok=Decimal("15"), completion_price_usd_per_mtok=Decimal("75"), plans=[BASIC, PREMIUM]),
    dict(name="Gemini Pro", model_id="google/gemini-pro", description="Google's Gemini Pro, free on every plan.",
         is_free=True, token_cost_multiplier=Decimal("1.00"), context_tokens=32_000, max_reply_tokens=1_024, plans=[]),
    dict(name="GPT-4o mini", model_id="openai/gpt-4o-mini", description="Small, fast and free.",
         is_free=True, token_cost_multiplier=Decimal("0.50"), context_tokens=128_000, max_reply_tokens=1_024, plans=[]),
    dict(name="Gemini 2.5 Flash Image", model_id="google/gemini-2.5-flash-image-preview",
         description="Generates and edits images from text.", model_type="image",
         is_free=False, token_cost_multiplier=Decimal("1.00"), context_tokens=32_000, max_reply_tokens=1_024,
         plans=[BASIC, PREMIUM]),
]

CHATBOTS = [
    dict(name="General Assistant", description="A friendly assistant for everyday questions.",
         system_prompt="You are MobixAI's general assistant. Answer clearly and helpfully, in the user's language.",
         chatbot_type="text", default_model="google/gemini-pro", plans=[]),
    dict(name="Creative Writer", description="Stories, poems and copy with a creative touch.",
         system_prompt="You are a creative writing partner. Offer vivid, original prose and respect the requested form.",
         chatbot_type="text", default_model="anthropic/claude-3-opus", plans=[BASIC, PREMIUM]),
    dict(name="Technical Expert", description="Precise help with code, systems and engineering.",
         system_prompt="You are a senior software engineer. Be precise, show working code, and state trade-offs.",
         chatbot_type="text", default_model="openai/gpt-4-turbo", plans=[PREMIUM]),
    dict(name="Image Generator", description="Creates images from your descriptions and refines them.",
         system_prompt="You create images from the user's description and refine the latest image on request.",
         chatbot_type="image", default_model="google/gemini-2.5-flash-image-preview", plans=[BASIC, PREMIUM]),
]


async def seed_catalog(session: AsyncSession) -> bool:
    """Create the starter catalog if the catalog is empty; returns whether it did."""
    if (await session.exec(select(AiModel.id).limit(1))).first() is not None:
        return False
    by_slug: dict[str, AiModel] = {}
    for spec in MODELS:
        spec = dict(spec)
        plans = spec.pop("plans")
        model = AiModel(**spec)
        session.add(model)
        await session.flush()
        by_slug[model.model_id] = model
        for plan_id in plans:
            session.add(AiModelPlan(ai_model_id=model.id, plan_id=plan_id))
    for spec in CHATBOTS:
        spec = dict(spec)
        plans = spec.pop("plans")
        default = by_slug[spec.pop("default_model")]
        bot = Chatbot(**spec, default_model_id=default.id)
        session.add(bot)
        await session.flush()
        for plan_id in plans:
            session.add(ChatbotPlan(chatbot_id=bot.id, plan_id=plan_id))
    return True
