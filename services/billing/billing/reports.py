"""Read models: the usage report of every limit (GET /api/users/usage/) and per-session usage."""

from decimal import Decimal

from billing import repository as repo
from billing.limiter import PERIOD, UsageLimiter
from billing.models import SessionUsage
from billing.rules import (
    LIMIT_INDEX,
    LIMITS,
    floor_ms,
    nano_to_usd,
    plan_limits,
    seconds_ceil,
    seconds_until,
    to_ms,
    usd_text,
)
from billing.subscriptions import Subscriptions
from billing.windows import Windows
from shared.clock import Clock
from shared.contracts import billing as b
from shared.db import SessionFactory


def _usd(value: Decimal) -> Decimal:
    return Decimal(usd_text(value))


class Reports:
    def __init__(self, factory: SessionFactory, limiter: UsageLimiter, windows: Windows,
                 subscriptions: Subscriptions, clock: Clock) -> None:
        self.factory = factory
        self.limiter = limiter
        self.windows = windows
        self.subscriptions = subscriptions
        self.clock = clock

    async def usage(self, user_id: int) -> b.UsageReport:
        """Every limit of the current plan: used (committed plus open reservations), remaining, and
        seconds until usage next falls (windows) or the period ends; 0 = unlimited → nulls."""
        sub, plan = await self.subscriptions.current(user_id)
        now = floor_ms(self.clock.now())
        usage = await self.windows.run(
            user_id, sub, lambda: self.limiter.usage(user_id, to_ms(now), to_ms(sub.start_date))
        )
        limits = plan_limits(plan)
        rows = []
        for name in b.LIMIT_NAMES:
            k = LIMIT_INDEX[name]
            limit, used = limits[k], usage[k].used
            if limit == 0:
                remaining, resets = None, None
            else:
                remaining = max(0, limit - used)
                if usage[k].reset_ms == PERIOD:
                    resets = seconds_until(sub.end_date, now)
                elif usage[k].reset_ms is None:
                    resets = 0  # nothing counted: nothing to wait for
                else:
                    resets = seconds_ceil(usage[k].reset_ms)
            if LIMITS[k].kind == "cost":
                rows.append(b.LimitStatus(
                    name=name, limit=_usd(nano_to_usd(limit)), used=_usd(nano_to_usd(used)),
                    remaining=None if remaining is None else _usd(nano_to_usd(remaining)), resets_in=resets,
                ))
            else:
                rows.append(b.LimitStatus(name=name, limit=limit, used=used, remaining=remaining, resets_in=resets))
        return b.UsageReport(subscription_type_id=plan.id, limits=rows)

    async def session_usages(self, user_id: int) -> list[b.SessionUsage]:
        async with self.factory() as s:
            rows = await repo.list_session_usages(s, user_id)
        return [_session_usage(r) for r in rows]

    async def session_usage_page(self, q: b.SessionUsagesPageQuery) -> b.SessionUsagePage:
        """One page, counted and sliced by the database (one snapshot on PostgreSQL's default
        isolation only per statement: a commit between the two may shift the page by a row, as any
        offset page does)."""
        async with self.factory() as s:
            count = await repo.count_session_usages(s, q.user_id)
            rows = await repo.list_session_usages(s, q.user_id, q.offset, q.limit) if q.offset < count else []
        return b.SessionUsagePage(count=count, items=[_session_usage(r) for r in rows])


def _session_usage(r: SessionUsage) -> b.SessionUsage:
    return b.SessionUsage(
        id=r.id, session_id=r.session_id, tokens_count=r.tokens_count,
        free_model_tokens_count=r.free_model_tokens_count, is_free_model=r.is_free_model,
        cost_usd=_usd(nano_to_usd(r.cost_nano)), created_at=r.created_at, updated_at=r.updated_at,
    )
