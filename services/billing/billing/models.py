"""Billing tables: plans, subscriptions, reservations, the usage ledger and per-session usage."""

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from billing.types import Money, UtcDateTime


class BillingTable(SQLModel, registry=registry()):
    pass


def _ts(nullable: bool = False, **kw) -> Column:
    return Column(UtcDateTime(), nullable=nullable, **kw)


def _money(precision: int = 20, scale: int = 10) -> Column:
    return Column(Money(precision, scale), nullable=False)


class Plan(BillingTable, table=True):
    """A subscription plan (`subscription_type`); 0 in any limit field means unlimited."""

    __tablename__ = "plan"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    sku: str = Field(unique=True)
    description: str = ""
    price: Decimal = Field(default=Decimal("0"), sa_column=_money(14, 2))
    duration_days: int = 30
    max_tokens: int = 0
    max_tokens_free: int = 0
    max_openrouter_cost_usd: Decimal = Field(default=Decimal("0"), sa_column=_money(14, 2))
    hourly_max_messages: int = 0
    hourly_max_tokens: int = 0
    three_hours_max_messages: int = 0
    three_hours_max_tokens: int = 0
    twelve_hours_max_messages: int = 0
    twelve_hours_max_tokens: int = 0
    daily_max_messages: int = 0
    daily_max_tokens: int = 0
    weekly_max_messages: int = 0
    weekly_max_tokens: int = 0
    monthly_max_messages: int = 0
    monthly_max_tokens: int = 0
    monthly_free_model_messages: int = 0
    monthly_free_model_tokens: int = 0
    daily_image_generation_limit: int = 0
    weekly_image_generation_limit: int = 0
    monthly_image_generation_limit: int = 0
    is_active: bool = True
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
    __table_args__ = (Index("ix_reservation_user_status", "user_id", "status"),)
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


class UsageLedger(BillingTable, table=True):
    """The source of truth of usage: one row per billed exchange or title (`exchange_id` unique)."""

    __tablename__ = "usage_ledger"
    __table_args__ = (Index("ix_usage_ledger_user_admitted", "user_id", "admitted_at"),)
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
    cost_usd: Decimal = Field(default=Decimal("0"), sa_column=_money())
    cost_nano: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))  # ceil(cost × 1e9)
    had_image: bool = False
    stopped: bool = False
    subscription_id: int | None = None  # the period it was admitted in
    admitted_at: datetime = Field(sa_column=_ts())  # windows count the exchange from here
    created_at: datetime = Field(sa_column=_ts())


class SessionUsage(BillingTable, table=True):
    __tablename__ = "session_usage"
    __table_args__ = (UniqueConstraint("user_id", "session_id", name="uq_session_usage_user_session"),)
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
