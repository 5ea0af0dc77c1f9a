"""The writable fields of the admin objects (api.md §5), one family per object, defined once: the
gateway's staff routes take them as request bodies, and the admin contracts carry them to chat and
billing.

`XFields` lists every writable field once and is the PUT body: a full replacement, so every field is
required (the nullable ones may be null) and a missing one is a 400 that changes nothing. `XCreate`
(POST) requires only what has no default; `XPatch` (PATCH) requires nothing and applies only the
fields sent. Only the fields in `NULLABLE` accept null, and the OpenAPI document says so. Every bound
comes from `shared.bounds`, the definitions chat and billing enforce too.

A contract carries the patch model as `SetFields[XPatch]`: on the wire only the fields the request set
(what a PATCH omitted and a nullable field set to null stay apart), and the receiver's model has
exactly those in `model_fields_set`. The owner reads them with `sent()` and validates them with its
own model (defaults, what a PUT must name, uniqueness).
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from shared import bounds as B
from shared.contracts.base import Id
from shared.contracts.plans import limit_fields
from shared.media import image_reference_ok
from shared.text import Text

# An OpenRouter model slug; chat stores fallback lists comma-joined, so a comma would split one.
Slug = Annotated[str, Field(min_length=1, max_length=B.MAX_MODEL_SLUG_CHARS, pattern=r"^[^,\s]+$")]
Name = Text(B.MAX_NAME_CHARS)
Description = Text(B.MAX_DESCRIPTION_CHARS, blank_ok=True, strip=False)
Kind = Literal["text", "image"]
PlanIds = Annotated[list[Id], Field(max_length=B.MAX_LINKED_PLANS)]
ModelTokens = Annotated[int, Field(ge=B.MIN_MODEL_TOKENS, le=B.MAX_MODEL_TOKENS)]
Price = Annotated[Decimal, Field(ge=0, le=B.MAX_PRICE_USD_PER_MTOK, decimal_places=B.PRICE_PLACES)]
Multiplier = Annotated[Decimal, Field(ge=0, le=B.MAX_TOKEN_COST_MULTIPLIER, decimal_places=B.MULTIPLIER_PLACES)]
Count = Annotated[int, Field(ge=0, le=B.MAX_PLAN_COUNT)]
Money = Annotated[Decimal, Field(ge=0, le=B.MAX_PLAN_PRICE, decimal_places=B.MONEY_PLACES)]
CostUsd = Annotated[Decimal, Field(ge=0, le=B.MAX_PLAN_COST_USD, decimal_places=B.MONEY_PLACES)]
Days = Annotated[int, Field(ge=B.MIN_DURATION_DAYS, le=B.MAX_DURATION_DAYS)]


def _image(value: str) -> str:
    if not image_reference_ok(value):
        raise PydanticCustomError("image_reference", "Enter a path under /media/ or an https:// URL.")
    return value


Image = Annotated[str, Field(max_length=B.MAX_IMAGE_URL_CHARS, examples=["/media/chatbots/poet.png"]),
                  AfterValidator(_image)]


class AdminBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # read-only fields (id, …) are ignored
    # Only these may be set to null on purpose; for every other field null is a 400.
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise PydanticCustomError("null", "This field may not be null.")
        return value

    def sent(self) -> dict[str, Any]:
        """Only the fields the request set, by name, as JSON values: what the gateway sends and what
        the owning service validates with its own model."""
        return self.model_dump(mode="json", exclude_unset=True)


def _only_set(fields: AdminBody, info: SerializationInfo) -> dict[str, Any]:
    return fields.model_dump(mode=info.mode, exclude_unset=True)


Body = TypeVar("Body", bound=AdminBody)
# An admin body in a contract: serialized with only the fields that were set, so an omitted field is
# not sent as null and the receiver's `model_fields_set` is exactly what the sender set.
SetFields = Annotated[Body, PlainSerializer(_only_set)]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # "not sent" is not a value a client could send


def _optional(info: FieldInfo) -> FieldInfo:
    """The same field, no longer required; an omitted field is simply not applied."""
    optional = FieldInfo.merge_field_infos(info, default=None, json_schema_extra=_drop_default)
    return optional


def _variant(base: type[AdminBody], name: str, doc: str, required: tuple[str, ...] = ()) -> type[AdminBody]:
    fields: dict[str, Any] = {
        key: (info.annotation, info if key in required else _optional(info)) for key, info in base.model_fields.items()
    }
    model = create_model(name, __base__=AdminBody, __module__=__name__, __doc__=doc, **fields)
    model.NULLABLE = base.NULLABLE
    return model


class AiModelFields(AdminBody):
    """An AI model as PUT replaces it: every field."""

    NULLABLE = frozenset({"prompt_price_usd_per_mtok", "completion_price_usd_per_mtok"})  # null: price unknown
    name: Name
    model_id: Slug
    description: Description
    model_type: Kind
    is_active: bool
    is_free: bool
    token_cost_multiplier: Multiplier
    subscription_type_ids: PlanIds
    context_tokens: ModelTokens
    max_reply_tokens: ModelTokens
    prompt_price_usd_per_mtok: Price | None
    completion_price_usd_per_mtok: Price | None
    fallback_model_ids: Annotated[list[Slug], Field(max_length=B.MAX_FALLBACK_MODELS)]


class ChatbotFields(AdminBody):
    """A chatbot as PUT replaces it: every field."""

    NULLABLE = frozenset({"image", "default_model_id"})
    name: Name
    description: Description
    image: Image | None
    is_active: bool
    system_prompt: Text(B.MAX_SYSTEM_PROMPT_CHARS, blank_ok=True, strip=False)  # type: ignore[valid-type]
    chatbot_type: Kind
    subscription_type_ids: PlanIds
    default_model_id: Slug | None


# A plan as PUT replaces it: every field. The limit fields come from the one limit table
# (shared.contracts.plans), with the bounds billing enforces too.
PlanFields = create_model(
    "PlanFields",
    __base__=AdminBody,
    __module__=__name__,
    __doc__="A plan as PUT replaces it: every field. Limits are 0 for unlimited.",
    name=(Text(B.MAX_PLAN_NAME_CHARS), ...),
    description=(Description, ...),
    price=(Money, ...),
    duration_days=(Days, ...),
    sku=(Text(B.MAX_SKU_CHARS), ...),
    **limit_fields(Count, CostUsd, required=True),
    is_active=(bool, ...),
    currency=(Annotated[str, Field(pattern=r"^[A-Z]{3,8}$", description="ISO 4217 (IRT: toman)")], ...),
    is_purchasable=(Annotated[bool, Field(description="Sold at /api/plans/ when also active and priced above 0")],
                    ...),
)


AiModelCreate = _variant(AiModelFields, "AiModelCreate", "A new AI model; omitted fields take their defaults.",
                         ("name", "model_id"))
AiModelPatch = _variant(AiModelFields, "AiModelPatch", "The AI model fields to change; the others stay.")
ChatbotCreate = _variant(ChatbotFields, "ChatbotCreate", "A new chatbot; omitted fields take their defaults.", ("name",))
ChatbotPatch = _variant(ChatbotFields, "ChatbotPatch", "The chatbot fields to change; the others stay.")
PlanCreate = _variant(PlanFields, "PlanCreate", "A new plan; omitted fields take their defaults.", ("name", "sku"))
PlanPatch = _variant(PlanFields, "PlanPatch", "The plan fields to change; the others stay.")


# A discount code's fields, for POST, PUT and PATCH alike: billing checks what each requires.
class DiscountCodeBody(AdminBody):
    NULLABLE = frozenset({"max_uses", "valid_until", "valid_from"})
    code: str | None = Field(None, min_length=1, max_length=64, pattern=r"^\S+$")
    discount_type: Literal["percentage", "fixed"] | None = None
    discount_value: Decimal | None = Field(None, ge=0, le=10**12, decimal_places=2,
                                           description="Percentage 0–100, or an amount in the plan's currency")
    subscription_type_ids: list[Id] | None = Field(None, max_length=1_000, description="Empty: every plan")
    max_uses: int | None = Field(None, ge=1, le=2_000_000_000, description="null: unlimited")
    max_uses_per_user: int | None = Field(None, ge=1, le=2_000_000_000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    is_active: bool | None = None
