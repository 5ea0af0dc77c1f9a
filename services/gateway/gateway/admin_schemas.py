"""Request bodies of the staff catalog routes; only fields a request sets are applied."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AdminBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # read-only fields (id, …) are ignored


class AiModelBody(AdminBody):
    name: str | None = Field(None, min_length=1, max_length=200)
    model_id: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5_000)
    model_type: Literal["text", "image"] | None = None
    is_active: bool | None = None
    is_free: bool | None = None
    token_cost_multiplier: Decimal | None = Field(None, ge=0, le=999_999, decimal_places=2)
    subscription_type_ids: list[int] | None = Field(None, max_length=1_000)
    context_tokens: int | None = Field(None, ge=16, le=10_000_000)
    max_reply_tokens: int | None = Field(None, ge=16, le=10_000_000)
    prompt_price_usd_per_mtok: Decimal | None = Field(None, ge=0, le=999_999)
    completion_price_usd_per_mtok: Decimal | None = Field(None, ge=0, le=999_999)
    fallback_model_ids: list[str] | None = Field(None, max_length=10)


class ChatbotBody(AdminBody):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5_000)
    image: str | None = Field(None, max_length=500)
    is_active: bool | None = None
    system_prompt: str | None = Field(None, max_length=32_000)
    chatbot_type: Literal["text", "image"] | None = None
    subscription_type_ids: list[int] | None = Field(None, max_length=1_000)
    default_model_id: str | None = Field(None, max_length=200)
