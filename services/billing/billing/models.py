"""Billing tables: plans, subscriptions, reservations, the usage ledger and per-session usage."""

import types
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    String,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from billing.types import Money, UtcDateTime
from shared.contracts.plans import COST_FIELDS, LIMIT_FIELDS


class BillingTable(SQLModel, registry=registry()):
    pass


def _ts(nullable: bool = False, **kw) -> Column:
    return Column(UtcDateTime(), nullable=nullable, **kw)


def _money(precision: int = 20, scale: int = 10) -> Column:
    return Column(Money(precision, scale), nullable=False)


def _limit_columns(namespace: dict) -> None:
    annotations = namespace.setdefault("__annotations__", {})
    for name in LIMIT_FIELDS:
        if name in COST_FIELDS:
            annotations[name] = Decimal
            namespace[name] = Field(default=Decimal(0), sa_column=_money(14, 2))
        else:
            annotations[name] = int
            namespace[name] = 0


# The plan's limit columns, one per field of the limit table (shared.contracts.plans).
PlanLimitColumns = types.new_class("PlanLimitColumns", (SQLModel,), {}, _limit_columns)


class Plan(BillingTable, PlanLimitColumns, table=True):
    """A subscription plan (`subscription_type`); 0 in any limit field means unlimited."""

    __tablename__ = "plan"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    sku: str = Field(unique=True)
    description: str = ""
    price: Decimal = Field(default=Decimal(0), sa_column=_money(14, 2))
    duration_days: int = 30
    is_active: bool = True
    # ISO 4217 code (IRT for the Iranian toman, which has none); new plans take BILLING_CURRENCY.
    currency: str = Field(default="IRT", sa_column=Column(String(8), nullable=False, server_default="IRT"))
    # For sale at /api/plans/ when also active and priced above 0.
    is_purchasable: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=true()))
    created_at: datetime = Field(sa_column=_ts())


class Subscription(BillingTable, table=True):
    """One period of a plan; a user has exactly one active row (partial unique index)."""

    __tablename__ = "subscription"
    __table_args__ = (
        Index(
            "uq_subscription_active_user", "user_id", unique=True,
            sqlite_where=text("is_active"), postgresql_where=text("is_active"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True)
    plan_id: int = Field(foreign_key="plan.id")
    start_date: datetime = Field(sa_column=_ts())
    end_date: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    is_active: bool = True
    # Set when a commit or release could not reach Redis: the next admission rebuilds the user's
    # windows from the ledger instead of trusting them.
    windows_stale_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Reservation(BillingTable, table=True):
    """What an admitted exchange holds, and the terms its commit is billed on."""

    __tablename__ = "reservation"
    __table_args__ = (
        Index("ix_reservation_user_status", "user_id", "status"),
        Index("ix_reservation_released", "released_at"),
    )
    exchange_id: UUID = Field(primary_key=True)
    user_id: int
    session_id: int
    subscription_id: int
    model: str
    is_free_model: bool
    token_cost_multiplier: Decimal = Field(sa_column=_money(12, 4))
    prompt_tokens: int
    max_tokens: int  # the reply cap sent upstream
    reserved_tokens: int  # effective tokens held
    reserved_cost_nano: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    is_image: bool = False
    prompt_price_usd_per_mtok: Decimal | None = Field(default=None, sa_column=Column(Money(14, 6)))
    completion_price_usd_per_mtok: Decimal | None = Field(default=None, sa_column=Column(Money(14, 6)))
    admitted_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    # open | released; a committed one stays "open" here: the ledger row is what says it was billed
    status: str = "open"
    # Why and when it was released: "failed" (ReplyFailed), "timed_out" (chat gave up on the reply),
    # "abandoned" (admitted, never stored), "released" (a caller's release). Reports count failed
    # replies from these (docs/decisions.md).
    release_reason: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    released_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


# What the reports sum per day, user or model: carried by the ledger's created_at index.
LEDGER_REPORT_COLUMNS = [
    "kind", "user_id", "model", "is_free_model", "stopped", "prompt_tokens", "completion_tokens", "tokens", "cost_nano",
]


class UsageLedger(BillingTable, table=True):
    """The source of truth of usage: one row per billed exchange or title (`exchange_id` unique)."""

    __tablename__ = "usage_ledger"
    __table_args__ = (
        Index("ix_usage_ledger_user_admitted", "user_id", "admitted_at"),
        # The reports (billing.admin_reports) read a range of days: on PostgreSQL the figures they sum
        # ride in the index, so a day range is an index-only scan (bench/reports.py).
        Index("ix_usage_ledger_created", "created_at", postgresql_include=LEDGER_REPORT_COLUMNS),
    )
    id: int | None = Field(default=None, primary_key=True)
    exchange_id: UUID = Field(unique=True)  # the idempotency key of commits
    user_id: int
    session_id: int | None = None
    kind: str = "exchange"  # exchange | title
    model: str
    is_free_model: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens: int = 0  # prompt + completion as the provider reported them
    effective_tokens: int = 0  # what limits count: multiplier applied for paid models
    cost_usd: Decimal = Field(default=Decimal(0), sa_column=_money())
    cost_nano: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))  # ceil(cost × 1e9)
    had_image: bool = False
    stopped: bool = False
    subscription_id: int | None = None  # the period it was admitted in
    admitted_at: datetime = Field(sa_column=_ts())  # windows count the exchange from here
    created_at: datetime = Field(sa_column=_ts())


class SessionUsage(BillingTable, table=True):
    __tablename__ = "session_usage"
    __table_args__ = (
        UniqueConstraint("user_id", "session_id", name="uq_session_usage_user_session"),
        # A user's list in its order: a page of it reads the index, not every row of the user.
        Index("ix_session_usage_user_list", "user_id", "updated_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True)
    session_id: int
    tokens_count: int = 0  # effective paid-model tokens
    free_model_tokens_count: int = 0
    is_free_model: bool = False  # the model of the session's latest exchange is free
    # whole nano-dollars, so concurrent commits can add in SQL on every database
    cost_nano: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class Payment(BillingTable, table=True):
    """One purchase of a plan. `status` moves forward once: pending → completed | failed | cancelled |
    expired, completed → refunded; every move is a compare-and-set on the current status."""

    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref", name="uq_payment_provider_ref"),
        Index("ix_payment_user_created", "user_id", "created_at"),
        Index("ix_payment_status_created", "status", "created_at"),
        Index("ix_payment_completed", "completed_at"),
        Index("ix_payment_settled", "settled_at"),
    )
    id: UUID = Field(primary_key=True)
    user_id: int
    plan_id: int = Field(foreign_key="plan.id")
    status: str = "pending"
    original_amount: Decimal = Field(sa_column=_money(14, 2))
    credit_amount: Decimal = Field(sa_column=_money(14, 2))
    discount_amount: Decimal = Field(sa_column=_money(14, 2))
    amount: Decimal = Field(sa_column=_money(14, 2))
    currency: str = Field(sa_column=Column(String(8), nullable=False))
    provider: str
    provider_ref: str | None = None  # Zibal's trackId, Stripe's PaymentIntent id
    redirect_url: str | None = None
    discount_code_id: int | None = Field(default=None, foreign_key="discount_code.id")
    subscription_id: int | None = None  # the period this payment started
    failure_reason: str | None = None
    created_at: datetime = Field(sa_column=_ts())
    completed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    settled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    checked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))  # last provider inquiry


class StripeEvent(BillingTable, table=True):
    """A Stripe webhook event taken in: its id is the key, so a replayed or redelivered event is
    recognised and changes nothing (payments.md)."""

    __tablename__ = "stripe_event"
    id: str = Field(primary_key=True)  # Stripe's event id, evt_…
    type: str
    object_id: str  # the PaymentIntent the event is about
    payment_id: UUID | None = None  # ours, when the intent is one of our payments
    received_at: datetime = Field(sa_column=_ts())


class DiscountCode(BillingTable, table=True):
    """A discount code; `held` counts uses taken by pending checkouts, `times_used` completed ones.
    A checkout holds a use only while `times_used + held < max_uses` (one UPDATE)."""

    __tablename__ = "discount_code"
    id: int | None = Field(default=None, primary_key=True)
    code: str
    code_key: str = Field(unique=True)  # lower-cased: codes are compared case-insensitively
    discount_type: str  # percentage | fixed
    discount_value: Decimal = Field(sa_column=_money(14, 2))
    subscription_type_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    max_uses: int | None = None
    max_uses_per_user: int = 1
    valid_from: datetime = Field(sa_column=_ts())
    valid_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    is_active: bool = True
    times_used: int = 0
    held: int = 0
    created_at: datetime = Field(sa_column=_ts())
