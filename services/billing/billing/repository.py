"""Every SQL statement of the billing service.

The per-exchange paths (admission, commit, release) use Core statements on a connection: they run
for every message, and the ORM's unit of work costs more than the statements themselves. Their
writes never raise on conflicts (ON CONFLICT …), so they can share a batched transaction.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel import select as orm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from billing.models import Plan, Reservation, SessionUsage, Subscription, UsageLedger

SUB = Subscription.__table__
PLAN = Plan.__table__
RES = Reservation.__table__
LEDGER = UsageLedger.__table__
USAGE = SessionUsage.__table__


def _prebuilt(build):
    """Build a hot statement once per dialect: constructing it anew for every exchange costs more
    than running it. Parameters are passed at execution."""
    cache: dict[str, Any] = {}

    def get(conn: AsyncConnection):
        name = conn.dialect.name
        if name not in cache:
            cache[name] = build(pg_insert if name == "postgresql" else sqlite_insert)
        return cache[name]

    return get


def _build_usage_upsert(insert):
    query = insert(USAGE)
    return query.on_conflict_do_update(
        index_elements=["user_id", "session_id"],
        set_={
            "tokens_count": USAGE.c.tokens_count + query.excluded.tokens_count,
            "free_model_tokens_count": USAGE.c.free_model_tokens_count + query.excluded.free_model_tokens_count,
            "cost_nano": USAGE.c.cost_nano + query.excluded.cost_nano,
            "is_free_model": query.excluded.is_free_model,
            "updated_at": query.excluded.updated_at,
        },
    )


_INSERT_RESERVATION = _prebuilt(lambda insert: insert(RES).on_conflict_do_nothing(index_elements=["exchange_id"]))
_INSERT_LEDGER = _prebuilt(
    lambda insert: insert(LEDGER).on_conflict_do_nothing(index_elements=["exchange_id"]).returning(LEDGER.c.id)
)
_UPSERT_USAGE = _prebuilt(_build_usage_upsert)
_RESERVATION = select(RES).where(RES.c.exchange_id == bindparam("exchange_id"))


# --- plans ----------------------------------------------------------------------------------------


async def list_plans(s: AsyncSession) -> list[Plan]:
    return list((await s.exec(orm_select(Plan).order_by(Plan.id))).all())


async def get_plan(s: AsyncSession, plan_id: int) -> Plan | None:
    return await s.get(Plan, plan_id)


async def plan_by_sku(s: AsyncSession, sku: str) -> Plan | None:
    return (await s.exec(orm_select(Plan).where(Plan.sku == sku))).first()


async def plan_clash(s: AsyncSession, field: str, value: str, plan_id: int | None) -> bool:
    """Another plan already uses this unique `name` or `sku`."""
    found = (await s.exec(orm_select(Plan.id).where(getattr(Plan, field) == value))).first()
    return found is not None and found != plan_id


async def plan_in_use(s: AsyncSession, plan_id: int) -> bool:
    query = orm_select(func.count()).select_from(Subscription).where(Subscription.plan_id == plan_id)
    return (await s.exec(query)).one() > 0


async def count_plans(s: AsyncSession) -> int:
    return (await s.exec(orm_select(func.count()).select_from(Plan))).one()


# --- subscriptions --------------------------------------------------------------------------------

_CURRENT = (
    select(
        SUB.c.id.label("sub_id"), SUB.c.start_date.label("sub_start_date"), SUB.c.end_date.label("sub_end_date"),
        SUB.c.windows_stale_at.label("sub_windows_stale_at"), *PLAN.c,
    )
    .join(PLAN, PLAN.c.id == SUB.c.plan_id)
    .where(SUB.c.user_id == bindparam("user_id"), SUB.c.is_active.is_(True))
)


async def current_subscription(conn: AsyncConnection, user_id: int) -> Mapping[str, Any] | None:
    """The active subscription (`sub_*` keys) joined with its plan (the plan's own column names)."""
    return (await conn.execute(_CURRENT, {"user_id": user_id})).mappings().first()


async def active_subscription(s: AsyncSession, user_id: int) -> Subscription | None:
    query = orm_select(Subscription).where(Subscription.user_id == user_id, col(Subscription.is_active).is_(True))
    return (await s.exec(query)).first()


async def deactivate_subscription(s: AsyncSession, subscription_id: int) -> bool:
    """End a period; False when another request ended it first."""
    result = await s.exec(
        update(Subscription)
        .where(col(Subscription.id) == subscription_id, col(Subscription.is_active).is_(True))
        .values(is_active=False)
    )
    return result.rowcount == 1


async def mark_windows_stale(conn: AsyncConnection, user_id: int, at: datetime) -> None:
    await conn.execute(
        update(SUB).where(SUB.c.user_id == user_id, SUB.c.is_active.is_(True)).values(windows_stale_at=at)
    )


async def clear_windows_stale(s: AsyncSession, subscription_id: int, seen: datetime) -> None:
    # only the mark this rebuild saw: a newer one must trigger another rebuild
    await s.exec(
        update(Subscription)
        .where(col(Subscription.id) == subscription_id, col(Subscription.windows_stale_at) == seen)
        .values(windows_stale_at=None)
    )


# --- reservations ---------------------------------------------------------------------------------


async def insert_reservation(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Idempotent: the same admission asked twice keeps its first row."""
    await conn.execute(_INSERT_RESERVATION(conn), values)


async def reservation(conn: AsyncConnection, exchange_id: UUID) -> Mapping[str, Any] | None:
    return (await conn.execute(_RESERVATION, {"exchange_id": exchange_id})).mappings().first()


async def release_reservation(conn: AsyncConnection, exchange_id: UUID, user_id: int, reason: str,
                              at: datetime) -> bool:
    """Mark the user's open reservation released; False when unknown, not theirs, or released before."""
    query = update(RES).where(RES.c.exchange_id == exchange_id, RES.c.user_id == user_id, RES.c.status == "open")
    values = dict(status="released", release_reason=reason, released_at=at)
    return (await conn.execute(query.values(**values))).rowcount == 1


async def live_reservations(s: AsyncSession, user_id: int, now: datetime) -> list[Reservation]:
    """The user's reservations not yet expired, open or released."""
    query = orm_select(Reservation).where(Reservation.user_id == user_id, col(Reservation.expires_at) > now)
    return list((await s.exec(query)).all())


# --- ledger ---------------------------------------------------------------------------------------


async def insert_ledger(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Bill once: False when this exchange (or title) is in the ledger already."""
    return (await conn.execute(_INSERT_LEDGER(conn), values)).first() is not None


async def ledger_entry(conn: AsyncConnection, exchange_id: UUID) -> Mapping[str, Any] | None:
    return (await conn.execute(select(LEDGER).where(LEDGER.c.exchange_id == exchange_id))).mappings().first()


async def window_entries(s: AsyncSession, user_id: int, since: datetime) -> list[UsageLedger]:
    """The user's exchanges admitted after `since` (titles limit nothing)."""
    query = orm_select(UsageLedger).where(
        UsageLedger.user_id == user_id, UsageLedger.kind == "exchange", col(UsageLedger.admitted_at) > since
    )
    return list((await s.exec(query)).all())


async def period_totals(s: AsyncSession, user_id: int, start: datetime) -> tuple[int, int, int]:
    """(effective paid tokens, free tokens, nano-USD) of exchanges admitted since `start`."""
    paid = func.coalesce(func.sum(UsageLedger.effective_tokens).filter(col(UsageLedger.is_free_model).is_(False)), 0)
    free = func.coalesce(func.sum(UsageLedger.effective_tokens).filter(col(UsageLedger.is_free_model).is_(True)), 0)
    cost = func.coalesce(func.sum(UsageLedger.cost_nano), 0)
    query = orm_select(paid, free, cost).where(
        UsageLedger.user_id == user_id, UsageLedger.kind == "exchange", col(UsageLedger.admitted_at) >= start
    )
    row = (await s.exec(query)).one()
    return int(row[0]), int(row[1]), int(row[2])


# --- per-session usage ----------------------------------------------------------------------------


async def add_session_usage(conn: AsyncConnection, *, user_id: int, session_id: int, paid_tokens: int,
                            free_tokens: int, cost_nano: int, is_free_model: bool, now: datetime) -> None:
    """Add one exchange to its (user, session) row, creating it; additions are done by the database,
    so concurrent commits of one session cannot lose each other's."""
    await conn.execute(_UPSERT_USAGE(conn), dict(
        user_id=user_id, session_id=session_id, tokens_count=paid_tokens, free_model_tokens_count=free_tokens,
        cost_nano=cost_nano, is_free_model=is_free_model, created_at=now, updated_at=now,
    ))


async def list_session_usages(s: AsyncSession, user_id: int) -> list[SessionUsage]:
    query = (
        orm_select(SessionUsage)
        .where(SessionUsage.user_id == user_id)
        .order_by(col(SessionUsage.updated_at).desc(), col(SessionUsage.id).desc())
    )
    return list((await s.exec(query)).all())
