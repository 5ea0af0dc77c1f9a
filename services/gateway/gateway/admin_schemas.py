"""Request bodies of the staff catalog routes; only fields a request sets are applied."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from gateway.schemas import Id

# An OpenRouter model slug; chat stores fallback lists comma-joined, so a comma would split one.
Slug = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^,\s]+$")]


class AdminBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # read-only fields (id, …) are ignored
    # Fields are optional (PATCH sends only some), but only these may be set to null on purpose.
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise PydanticCustomError("null", "This field may not be null.")
        return value


class AiModelBody(AdminBody):
    NULLABLE = frozenset({"prompt_price_usd_per_mtok", "completion_price_usd_per_mtok"})  # null: price unknown
    name: str | None = Field(None, min_length=1, max_length=200)
    model_id: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5_000)
    model_type: Literal["text", "image"] | None = None
    is_active: bool | None = None
    is_free: bool | None = None
    token_cost_multiplier: Decimal | None = Field(None, ge=0, le=999_999, decimal_places=2)
    subscription_type_ids: list[Id] | None = Field(None, max_length=1_000)
    context_tokens: int | None = Field(None, ge=16, le=10_000_000)
    max_reply_tokens: int | None = Field(None, ge=16, le=10_000_000)
    prompt_price_usd_per_mtok: Decimal | None = Field(None, ge=0, le=999_999)
    completion_price_usd_per_mtok: Decimal | None = Field(None, ge=0, le=999_999)
    fallback_model_ids: list[Slug] | None = Field(None, max_length=10)


class ChatbotBody(AdminBody):
    NULLABLE = frozenset({"image", "default_model_id"})
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5_000)
    image: str | None = Field(None, max_length=500)
    is_active: bool | None = None
    system_prompt: str | None = Field(None, max_length=32_000)
    chatbot_type: Literal["text", "image"] | None = None
    subscription_type_ids: list[Id] | None = Field(None, max_length=1_000)
    default_model_id: str | None = Field(None, max_length=200)


class PlanBody(AdminBody):
    # Limits are 32-bit integer columns (PostgreSQL `integer`); larger values would not store.
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5_000)
    price: Decimal | None = Field(None, ge=0, le=10**12, decimal_places=2)
    duration_days: int | None = Field(None, ge=1, le=36_500)
    sku: str | None = Field(None, min_length=1, max_length=100)
    max_tokens: int | None = Field(None, ge=0, le=2_147_483_647)
    max_tokens_free: int | None = Field(None, ge=0, le=2_147_483_647)
    max_openrouter_cost_usd: Decimal | None = Field(None, ge=0, le=10**9, decimal_places=2)
    hourly_max_messages: int | None = Field(None, ge=0, le=2_147_483_647)
    hourly_max_tokens: int | None = Field(None, ge=0, le=2_147_483_647)
    three_hours_max_messages: int | None = Field(None, ge=0, le=2_147_483_647)
    three_hours_max_tokens: int | None = Field(None, ge=0, le=2_147_483_647)
    twelve_hours_max_messages: int | None = Field(None, ge=0, le=2_147_483_647)
    twelve_hours_max_tokens: int | None = Field(None, ge=0, le=2_147_483_647)
    daily_max_messages: int | None = Field(None, ge=0, le=2_147_483_647)
    daily_max_tokens: int | None = Field(None, ge=0, le=2_147_483_647)
    weekly_max_messages: int | None = Field(None, ge=0, le=2_147_483_647)
    weekly_max_tokens: int | None = Field(None, ge=0, le=2_147_483_647)
    monthly_max_messages: int | None = Field(None, ge=0, le=2_147_483_647)
    monthly_max_tokens: int | None = Field(None, ge=0, le=2_147_483_647)
    monthly_free_model_messages: int | None = Field(None, ge=0, le=2_147_483_647)
    monthly_free_model_tokens: int | None = Field(None, ge=0, le=2_147_483_647)
    daily_image_generation_limit: int | None = Field(None, ge=0, le=2_147_483_647)
    weekly_image_generation_limit: int | None = Field(None, ge=0, le=2_147_483_647)
    monthly_image_generation_limit: int | None = Field(None, ge=0, le=2_147_483_647)
    is_active: bool | None = None
    currency: str | None = Field(None, pattern=r"^[A-Z]{3,8}$", description="ISO 4217 (IRT: toman); "
                                 "default BILLING_CURRENCY")
    is_purchasable: bool | None = Field(None, description="Sold at /api/plans/ when also active and priced above 0")


class StartSubscriptionBody(AdminBody):
    NULLABLE = frozenset({"duration_days"})  # null: the plan's own duration
    subscription_type_id: Id
    duration_days: int | None = Field(None, ge=1, le=36_500)


class StaffBody(AdminBody):
    is_staff: bool


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
