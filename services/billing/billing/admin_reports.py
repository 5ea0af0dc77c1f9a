"""The operator console's reports (shared.contracts.reports), read from the ledger, reservations,
payments and subscriptions. Every figure is summed by the database, per UTC day; what each one
counts is written in docs/decisions.md ("Operator console: what the reports count")."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Date, Integer, and_, cast, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import Payment, Plan, Reservation, Subscription, UsageLedger
from billing.rules import nano_to_usd
from shared.clock import Clock
from shared.contracts import reports as r

LEDGER = UsageLedger.__table__
RES = Reservation.__table__
PAY = Payment.__table__
PLAN = Plan.__table__
SUB = Subscription.__table__

# A payment that was completed stays revenue of its day when it is refunded later; the refund is
# counted on the day it was made.
PAID = ("completed", "refunded")
# Reservations released because the reply failed: by the worker (ReplyFailed) or by chat's deadline.
FAILED_REASONS = ("failed", "timed_out")
CENTS = Decimal("0.01")
MICRO_USD = Decimal("0.000001")


def utc_day(column, dialect: str):  # a SQL expression of `column`
    """The UTC calendar day of a timestamp column, computed by the database. PostgreSQL holds
    timestamptz (converted to UTC first); SQLite holds naive UTC text."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def bounds(q: r.ReportRange) -> tuple[datetime, datetime]:
    """[first instant, instant after the last day): half-open, so an index range scan answers it."""
    start = datetime.combine(q.start, time.min, UTC)
    return start, datetime.combine(q.end + timedelta(days=1), time.min, UTC)


def money(value: Any) -> Decimal:
    # SQLite sums the text amounts as floats; two places restore them exactly (far below 2**53 cents).
    return Decimal(str(value or 0)).quantize(CENTS, ROUND_HALF_UP)


def usd(nano: Any) -> Decimal:
    return nano_to_usd(int(nano or 0)).quantize(MICRO_USD, ROUND_HALF_UP)


def _ordered(amounts: dict[str, Decimal], currency: str) -> dict[str, Decimal]:
    """The operator's currency first and always present, then the others that have an amount."""
    out = {currency: amounts.get(currency, Decimal(0)).quantize(CENTS)}
    out.update({k: v for k, v in sorted(amounts.items()) if k != currency})
    return out


class AdminReports:
    def __init__(self, engine: AsyncEngine, clock: Clock, currency: str) -> None:
        self.engine = engine
        self.clock = clock
        self.currency = currency

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # --- per day ------------------------------------------------------------------------------------
    def _ledger_days(self, start: datetime, end: datetime):
        day = utc_day(LEDGER.c.created_at, self.dialect).label("day")
        exchange = LEDGER.c.kind == "exchange"
        return (
            select(
                day,
                func.count().filter(exchange).label("messages"),
                func.coalesce(func.sum(LEDGER.c.prompt_tokens), 0).label("prompt_tokens"),
                func.coalesce(func.sum(LEDGER.c.completion_tokens), 0).label("completion_tokens"),
                func.coalesce(func.sum(LEDGER.c.tokens), 0).label("tokens"),
                func.coalesce(func.sum(LEDGER.c.cost_nano), 0).label("cost_nano"),
                func.count().filter(and_(exchange, LEDGER.c.is_free_model.is_(True))).label("free_model_messages"),
                func.count().filter(and_(exchange, LEDGER.c.stopped.is_(True))).label("stopped_replies"),
            )
            .where(LEDGER.c.created_at >= start, LEDGER.c.created_at < end)
            .group_by(day)
        )

    def _failed_days(self, start: datetime, end: datetime):
        day = utc_day(RES.c.released_at, self.dialect).label("day")
        billed = exists().where(LEDGER.c.exchange_id == RES.c.exchange_id)
        return (
            select(day, func.count().label("failed_replies"))
            .where(RES.c.released_at >= start, RES.c.released_at < end,
                   RES.c.release_reason.in_(FAILED_REASONS), ~billed)
            .group_by(day)
        )

    def _paid_days(self, start: datetime, end: datetime):
        day = utc_day(PAY.c.completed_at, self.dialect).label("day")
        return (
            select(day, PAY.c.currency, func.count().label("n"), func.sum(PAY.c.amount).label("amount"))
            .where(PAY.c.completed_at >= start, PAY.c.completed_at < end, PAY.c.status.in_(PAID))
            .group_by(day, PAY.c.currency)
        )

    def _refund_days(self, start: datetime, end: datetime):
        day = utc_day(PAY.c.settled_at, self.dialect).label("day")
        return (
            select(day, PAY.c.currency, func.count().label("n"), func.sum(PAY.c.amount).label("amount"))
            .where(PAY.c.settled_at >= start, PAY.c.settled_at < end, PAY.c.status == "refunded")
            .group_by(day, PAY.c.currency)
        )

    def _revenue_by_plan(self, start: datetime, end: datetime):
        return (
            select(PAY.c.plan_id, PLAN.c.name, PAY.c.currency, func.count().label("n"),
                   func.sum(PAY.c.amount).label("amount"))
            .join(PLAN, PLAN.c.id == PAY.c.plan_id)
            .where(PAY.c.completed_at >= start, PAY.c.completed_at < end, PAY.c.status.in_(PAID))
            .group_by(PAY.c.plan_id, PLAN.c.name, PAY.c.currency)
            .order_by(PAY.c.plan_id, PAY.c.currency)
        )

    def _active_by_plan(self, now: datetime):
        # An ended period stays is_active until its user's next request opens the default plan: the
        # end date decides here, so the count is "now".
        live = and_(SUB.c.is_active.is_(True), or_(SUB.c.end_date.is_(None), SUB.c.end_date > now))
        count = func.count(SUB.c.id)
        return (
            select(PLAN.c.id, PLAN.c.name, count.label("n"))
            .select_from(PLAN.outerjoin(SUB, and_(SUB.c.plan_id == PLAN.c.id, live)))
            .group_by(PLAN.c.id, PLAN.c.name)
            .order_by(PLAN.c.id)
        )

    async def overview(self, q: r.ReportRange) -> r.Overview:
        start, end = bounds(q)
        async with self.engine.connect() as conn:
            ledger = (await conn.execute(self._ledger_days(start, end))).mappings().all()
            failed = (await conn.execute(self._failed_days(start, end))).all()
            paid = (await conn.execute(self._paid_days(start, end))).all()
            refunds = (await conn.execute(self._refund_days(start, end))).all()
            by_plan = (await conn.execute(self._revenue_by_plan(start, end))).all()
            active = (await conn.execute(self._active_by_plan(self.clock.now()))).all()

        days: dict[date, dict[str, Any]] = {}
        for n in range((q.end - q.start).days + 1):
            d = q.start + timedelta(days=n)
            days[d] = {"date": d, "revenue": defaultdict(Decimal), "refunded": defaultdict(Decimal)}
        for row in ledger:
            figures = days[_as_date(row["day"])]
            for key in ("messages", "prompt_tokens", "completion_tokens", "tokens", "free_model_messages",
                        "stopped_replies"):
                figures[key] = int(row[key])
            figures["cost_nano"] = int(row["cost_nano"])
        for day, n in failed:
            days[_as_date(day)]["failed_replies"] = int(n)
        for day, currency, n, amount in paid:
            figures = days[_as_date(day)]
            figures["payments"] = figures.get("payments", 0) + int(n)
            figures["revenue"][currency] += money(amount)
        for day, currency, n, amount in refunds:
            figures = days[_as_date(day)]
            figures["refunds"] = figures.get("refunds", 0) + int(n)
            figures["refunded"][currency] += money(amount)

        day_list = [self._figures(r.DayFigures, f) for f in days.values()]
        totals = self._total(days.values())
        return r.Overview(
            currency=self.currency, totals=totals, days=day_list,
            revenue_by_plan=[r.PlanRevenue(plan_id=pid, plan_name=name, currency=cur, revenue=money(amount), payments=n)
                             for pid, name, cur, n, amount in by_plan],
            active_subscriptions_by_plan=[r.PlanCount(plan_id=pid, plan_name=name, count=n) for pid, name, n in active],
        )

    def _figures(self, cls: type[r.Figures], f: dict[str, Any]) -> r.Figures:
        values = {k: v for k, v in f.items() if k not in ("revenue", "refunded", "cost_nano")}
        return cls(**values, revenue=_ordered(f["revenue"], self.currency),
                   refunded=_ordered(f["refunded"], self.currency), provider_cost_usd=usd(f.get("cost_nano")))

    def _total(self, days: Iterable[dict[str, Any]]) -> r.Figures:
        total: dict[str, Any] = {"revenue": defaultdict(Decimal), "refunded": defaultdict(Decimal)}
        for f in days:
            for key, value in f.items():
                if key in ("revenue", "refunded"):
                    for currency, amount in value.items():
                        total[key][currency] += amount
                elif key != "date":
                    total[key] = total.get(key, 0) + value
        return self._figures(r.Figures, total)

    # --- rankings -----------------------------------------------------------------------------------
    async def top_users(self, q: r.TopQuery) -> list[r.UserFigures]:
        start, end = bounds(q)
        cost = func.coalesce(func.sum(LEDGER.c.cost_nano), 0).label("cost_nano")
        messages = func.count().filter(LEDGER.c.kind == "exchange").label("messages")
        query = (
            select(LEDGER.c.user_id, messages, func.coalesce(func.sum(LEDGER.c.tokens), 0).label("tokens"), cost)
            .where(LEDGER.c.created_at >= start, LEDGER.c.created_at < end)
            .group_by(LEDGER.c.user_id)
            .order_by(cost.desc(), messages.desc(), LEDGER.c.user_id)
            .limit(q.limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [r.UserFigures(user_id=u, messages=m, tokens=int(t), provider_cost_usd=usd(c)) for u, m, t, c in rows]

    async def top_models(self, q: r.TopQuery) -> list[r.ModelFigures]:
        start, end = bounds(q)
        cost = func.coalesce(func.sum(LEDGER.c.cost_nano), 0).label("cost_nano")
        messages = func.count().filter(LEDGER.c.kind == "exchange").label("messages")
        free = func.max(cast(LEDGER.c.is_free_model, Integer)).label("free")
        query = (
            select(LEDGER.c.model, free, messages, func.coalesce(func.sum(LEDGER.c.tokens), 0).label("tokens"), cost)
            .where(LEDGER.c.created_at >= start, LEDGER.c.created_at < end)
            .group_by(LEDGER.c.model)
            .order_by(cost.desc(), messages.desc(), LEDGER.c.model)
            .limit(q.limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [r.ModelFigures(model=m, is_free=bool(f), messages=n, tokens=int(t), provider_cost_usd=usd(c))
                for m, f, n, t, c in rows]
