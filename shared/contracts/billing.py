"""RPC calls answered by the billing service, and their payloads."""

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import Field, create_model

from shared.contracts.admin_fields import PlanPatch, SetFields
from shared.contracts.base import Contract, Message
from shared.contracts.plans import WINDOW_FIELDS, limit_fields


class RpcNames:
    """The RPC names billing answers (queries and commands alike): each is its queue's routing key."""

    GET_SUBSCRIPTION = "billing.get_subscription"  # GetSubscription -> Subscription
    ADMIT = "billing.admit"  # AdmitExchange -> Admission | LimitExceeded
    LIST_SESSION_USAGES = "billing.list_session_usages"  # UserQuery -> list[SessionUsage]
    PAGE_SESSION_USAGES = "billing.page_session_usages"  # SessionUsagesPageQuery -> SessionUsagePage
    GET_USAGE = "billing.get_usage"  # UserQuery -> UsageReport
    PING = "billing.ping"
    START_SUBSCRIPTION = "billing.start_subscription"  # StartSubscription -> Subscription
    LIST_PLANS = "billing.list_plans"  # ListPlans -> list[Plan]
    GET_PLAN = "billing.get_plan"  # PlanQuery -> Plan
    CREATE_PLAN = "billing.create_plan"  # CreatePlan -> Plan
    UPDATE_PLAN = "billing.update_plan"  # UpdatePlan -> Plan
    DELETE_PLAN = "billing.delete_plan"  # PlanQuery -> None (Conflict "in_use" while subscribed)


# Every limit name (api.md §4), in the order GET_USAGE reports them.
LIMIT_NAMES: tuple[str, ...] = (
    *(f"{w}_{kind}" for w in WINDOW_FIELDS for kind in ("messages", "tokens")),
    "monthly_free_model_messages",
    "monthly_free_model_tokens",
    "max_tokens",
    "max_tokens_free",
    "max_openrouter_cost_usd",
    "daily_image_generation",
    "weekly_image_generation",
    "monthly_image_generation",
)


# A subscription plan (`subscription_type` in the REST API), its limit fields from the one table.
Plan = create_model(
    "Plan",
    __base__=Contract,
    __module__=__name__,
    __doc__="A subscription plan (`subscription_type` in the REST API).",
    id=(int, ...),
    name=(str, ...),
    description=(str, ""),
    price=(Decimal, ...),
    duration_days=(int, ...),
    sku=(str, ...),
    **limit_fields(int, Decimal),
    is_active=(bool, True),
    currency=(str, "IRT"),
    is_purchasable=(bool, True),
    created_at=(datetime, ...),
)


class Subscription(Contract):
    id: int
    subscription_type: Plan
    is_active: bool
    start_date: datetime
    end_date: datetime | None


class UserQuery(Contract):
    user_id: int


class GetSubscription(UserQuery):
    pass


class AdmitExchange(Contract):
    """Everything billing needs to decide and reserve one exchange."""

    user_id: int
    exchange_id: UUID
    session_id: int
    model: str  # OpenRouter slug
    is_free_model: bool
    token_cost_multiplier: Decimal
    prompt_tokens: int
    max_reply_tokens: int  # the model's own cap
    is_image: bool = False  # an image chatbot: counts against image limits
    prompt_price_usd_per_mtok: Decimal | None = None
    completion_price_usd_per_mtok: Decimal | None = None


class RateLimitInfo(Contract):
    """The tightest message window, for the X-RateLimit-* headers."""

    limit: int
    remaining: int
    reset_seconds: int


class Admission(Contract):
    exchange_id: UUID
    max_tokens: int  # reply cap to send upstream
    rate_limit: RateLimitInfo | None = None


class DeniedLimit(Contract):
    """`LimitExceeded.details["limit"]`: which limit denied, and when it frees up by itself.

    `limit`/`used` are integers, or decimal strings for `max_openrouter_cost_usd`; `retry_after` is
    seconds, or None when only a new subscription period resets the limit.
    """

    name: str
    limit: int | str
    used: int | str
    retry_after: int | None


class SessionUsage(Contract):
    id: int
    session_id: int
    tokens_count: int
    free_model_tokens_count: int
    is_free_model: bool
    cost_usd: Decimal
    created_at: datetime
    updated_at: datetime


class SessionUsagesPageQuery(UserQuery):
    offset: int = Field(0, ge=0)
    limit: int = Field(ge=1, le=100)


class SessionUsagePage(Contract):
    count: int  # every row of the user, for the page envelope
    items: list[SessionUsage]


class LimitStatus(Contract):
    name: str
    limit: int | Decimal
    used: int | Decimal
    remaining: int | Decimal | None
    resets_in: int | None


class UsageReport(Contract):
    subscription_type_id: int
    limits: list[LimitStatus] = Field(default_factory=list)


class StartSubscription(Contract):
    """Open a new period on a plan now (admin today, payments later)."""

    user_id: int
    plan_id: int
    duration_days: int | None = None  # None: the plan's own duration


class ListPlans(Contract):
    pass


class SubscriptionStarted(Message):
    """A new period began (a completed payment, a zero-amount checkout, an admin change, a refund's
    fallback): whoever keeps a copy of the user's plan drops it; period totals count from `start_date`."""

    user_id: int
    subscription_id: int
    plan_id: int
    start_date: datetime
    end_date: datetime | None
    payment_id: UUID | None = None


class PlanQuery(Contract):
    plan_id: int


class CreatePlan(Contract):
    """`fields`: the plan fields the request set (billing adds the defaults and checks what a plan
    requires; read-only and unknown names are ignored)."""

    fields: SetFields[PlanPatch]


class UpdatePlan(Contract):
    """PUT (`partial` False: omitted optional fields take their defaults) or PATCH (only what is set)."""

    plan_id: int
    partial: bool = False
    fields: SetFields[PlanPatch]
