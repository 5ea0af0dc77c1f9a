"""RPC calls of the operator console's reports, answered by billing from its ledger and payments."""

from datetime import date
from decimal import Decimal

from pydantic import Field

from shared.contracts.base import Contract


class RpcNames:
    """The RPC names of the reports billing answers."""

    OVERVIEW = "billing.report_overview"  # ReportRange -> Overview
    TOP_USERS = "billing.report_top_users"  # TopQuery -> list[UserFigures]
    TOP_MODELS = "billing.report_top_models"  # TopQuery -> list[ModelFigures]


class ReportRange(Contract):
    """UTC days, both included."""

    start: date
    end: date


class TopQuery(ReportRange):
    limit: int = Field(10, ge=1, le=100)


class Figures(Contract):
    """What one day (or the whole range) adds up to; docs/decisions.md says what each figure counts."""

    revenue: dict[str, Decimal] = Field(default_factory=dict)  # currency -> completed payments
    refunded: dict[str, Decimal] = Field(default_factory=dict)  # currency -> refunds made
    payments: int = 0
    refunds: int = 0
    messages: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens: int = 0
    provider_cost_usd: Decimal = Decimal(0)
    free_model_messages: int = 0
    failed_replies: int = 0
    stopped_replies: int = 0


class DayFigures(Figures):
    date: date


class PlanRevenue(Contract):
    plan_id: int
    plan_name: str
    currency: str
    revenue: Decimal
    payments: int


class PlanCount(Contract):
    plan_id: int
    plan_name: str
    count: int


class Overview(Contract):
    currency: str  # BILLING_CURRENCY: the first key of every revenue dict
    totals: Figures
    days: list[DayFigures]
    revenue_by_plan: list[PlanRevenue]
    active_subscriptions_by_plan: list[PlanCount]


class UserFigures(Contract):
    user_id: int
    messages: int
    tokens: int
    provider_cost_usd: Decimal


class ModelFigures(Contract):
    model: str  # the OpenRouter slug that answered, as the ledger records it
    is_free: bool
    messages: int
    tokens: int
    provider_cost_usd: Decimal
