"""HTTP shapes of the operator console's reports, audit log and model sync; billing's wire contracts
are shared.contracts.reports."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from gateway.schemas import Money

# Provider cost in USD, six places ("0.001234"): enough for one cheap exchange to show.
Usd = Annotated[Decimal, PlainSerializer(lambda value: str(value.quantize(Decimal("0.000001"))), return_type=str)]
Format = Literal["json", "csv"]


class Ranged(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    start: date = Field(alias="from", description="First UTC day, included")
    end: date = Field(alias="to", description="Last UTC day, included")


class FiguresOut(BaseModel):
    revenue: dict[str, Money] = Field(description="Completed payments per currency, BILLING_CURRENCY first")
    refunded: dict[str, Money] = Field(description="Refunds made per currency, BILLING_CURRENCY first")
    payments: int
    refunds: int
    messages: int = Field(description="Replies billed (exchanges; titles excluded)")
    prompt_tokens: int
    completion_tokens: int
    tokens: int
    provider_cost_usd: Usd
    free_model_messages: int
    failed_replies: int
    stopped_replies: int


class _Dated(BaseModel):
    date: date


class DayOut(FiguresOut, _Dated):  # the date first (JSON and CSV columns)
    pass


class PlanRevenueOut(BaseModel):
    plan_id: int
    plan_name: str
    currency: str
    revenue: Money
    payments: int


class PlanCountOut(BaseModel):
    plan_id: int
    plan_name: str
    count: int


class OverviewOut(Ranged):
    currency: str
    totals: FiguresOut
    days: list[DayOut] = Field(description="Every day of the range, zeros included")
    revenue_by_plan: list[PlanRevenueOut]
    active_subscriptions_by_plan: list[PlanCountOut] = Field(description="Now, whatever the range")


class TopUserOut(BaseModel):
    user_id: int
    phone_number: str | None = Field(description="null when the account no longer exists")
    messages: int
    tokens: int
    provider_cost_usd: Usd


class TopUsersOut(Ranged):
    results: list[TopUserOut]


class TopModelOut(BaseModel):
    ai_model_id: int | None = Field(description="The catalog's id; null for a model no longer in the catalog")
    model_id: str = Field(description="The OpenRouter slug that answered")
    model_name: str
    is_free: bool
    messages: int
    tokens: int
    provider_cost_usd: Usd


class TopModelsOut(Ranged):
    results: list[TopModelOut]


AuditAction = Literal["create", "update", "delete", "refund", "change_plan", "set_staff", "sync_models"]
AuditObject = Literal["plan", "ai_model", "chatbot", "user", "discount_code", "payment"]


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_id: int
    actor_phone: str | None
    action: AuditAction
    object_type: AuditObject
    object_id: str
    summary: str
    changes: dict[str, Any] = Field(description='Field -> [old, new] (null where there was none or is none)')


class AuditPageOut(BaseModel):
    results: list[AuditEntryOut]
    has_more: bool = Field(description="Older entries exist: ask again with before=<last id>")


class SyncedModelOut(BaseModel):
    id: int
    openrouter_id: str
    changes: dict[str, Any]


class SyncOut(BaseModel):
    updated: list[SyncedModelOut]
    unchanged: int
    not_in_catalog: list[str]
