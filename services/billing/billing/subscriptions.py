"""Subscriptions (business-rules §2): the default plan for new users, periods, and the fallback to
the default plan when a period ends, so that a user is never left without limits."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from billing import repository as repo
from billing.models import Plan, Subscription
from billing.plans import plan_out
from billing.rules import floor_ms
from shared.bounds import MAX_DURATION_DAYS, MIN_DURATION_DAYS
from shared.clock import Clock
from shared.contracts import billing as b
from shared.db import SessionFactory, autocommit, transaction
from shared.errors import NotFound, Unavailable, ValidationFailed

log = logging.getLogger(__name__)
ATTEMPTS = 5


class Announcer(Protocol):
    async def subscription_started(self, event: b.SubscriptionStarted) -> None: ...


@dataclass
class Period:
    """The user's current subscription as the use cases need it."""

    id: int
    user_id: int
    start_date: datetime
    end_date: datetime | None
    windows_stale_at: datetime | None = None


def _from_row(user_id: int, row: Mapping[str, Any]) -> tuple[Period, b.Plan]:
    period = Period(row["sub_id"], user_id, row["sub_start_date"], row["sub_end_date"], row["sub_windows_stale_at"])
    plan = b.Plan.model_validate({k: v for k, v in row.items() if not k.startswith("sub_")})
    return period, plan


def _from_model(sub: Subscription) -> Period:
    return Period(sub.id, sub.user_id, sub.start_date, sub.end_date, sub.windows_stale_at)


def subscription_out(period: Period, plan: b.Plan) -> b.Subscription:
    return b.Subscription(id=period.id, subscription_type=plan, is_active=True, start_date=period.start_date,
                          end_date=period.end_date)


class Subscriptions:
    def __init__(self, engine: AsyncEngine, factory: SessionFactory, clock: Clock, default_sku: str,
                 events: "Announcer | None" = None) -> None:
        self.events = events
        self.engine = engine
        self.factory = factory
        self.clock = clock
        self.default_sku = default_sku

    async def current(self, user_id: int) -> tuple[Period, b.Plan]:
        """The user's current period; opens the default plan for a user seen for the first time and
        falls back to it (a new open-ended period from the old end) when a period has ended."""
        for _ in range(ATTEMPTS):
            now = floor_ms(self.clock.now())
            async with autocommit(self.engine) as conn:  # every send reads it: one round trip
                row = await repo.current_subscription(conn, user_id)
            found = None if row is None else _from_row(user_id, row)
            if found is not None and (found[0].end_date is None or found[0].end_date > now):
                return found
            try:
                opened = await self._open_default(user_id, found[0] if found else None, now)
            except IntegrityError:
                opened = None  # a concurrent request opened it first: read theirs
            if opened is not None:
                return opened
        raise Unavailable("could not settle the user's subscription")

    async def _open_default(self, user_id: int, ended: Period | None, now: datetime) -> tuple[Period, b.Plan] | None:
        async with transaction(self.factory) as s:
            stale_mark = None
            start = now
            if ended is not None:
                if not await repo.deactivate_subscription(s, ended.id):
                    return None
                # the new period starts when the old one ended: nothing was admitted in between
                start = ended.end_date
                stale_mark = ended.windows_stale_at
                log.info("subscription %s of user %s ended; default plan from %s", ended.id, user_id, start)
            plan = await repo.plan_by_sku(s, self.default_sku)
            if plan is None:
                raise NotFound("No active subscription found")
            sub = Subscription(user_id=user_id, plan_id=plan.id, start_date=start, end_date=None,
                               is_active=True, windows_stale_at=stale_mark)
            s.add(sub)
            await s.flush()
            return _from_model(sub), plan_out(plan)

    async def get(self, user_id: int) -> b.Subscription:
        return subscription_out(*await self.current(user_id))

    async def start(self, q: b.StartSubscription) -> b.Subscription:
        """Open a new period on a plan now; period totals start from zero, windows carry on."""
        if q.duration_days is not None and not MIN_DURATION_DAYS <= q.duration_days <= MAX_DURATION_DAYS:
            raise ValidationFailed(f"duration_days must be from {MIN_DURATION_DAYS} to {MAX_DURATION_DAYS}.",
                                   fields={"duration_days": [f"Must be from {MIN_DURATION_DAYS} to {MAX_DURATION_DAYS}."]})
        for _ in range(ATTEMPTS):
            now = floor_ms(self.clock.now())
            try:
                async with transaction(self.factory) as s:
                    plan = await repo.get_plan(s, q.plan_id)
                    if plan is None:
                        raise ValidationFailed("Unknown plan.", fields={"subscription_type_id": ["Unknown plan."]})
                    sub = await self.open_period(s, q.user_id, plan, now, q.duration_days)
                    if sub is None:
                        continue
                    out = subscription_out(_from_model(sub), plan_out(plan))
            except IntegrityError:
                continue
            await self.announce(sub)
            return out
        raise Unavailable("could not start the subscription")

    async def open_period(self, s: AsyncSession, user_id: int, plan: Plan, now: datetime,
                          duration_days: int | None = None) -> Subscription | None:
        """End the user's current period and open one on `plan` from `now`, in the caller's
        transaction; None when a concurrent change ended the current period first (retry)."""
        days = plan.duration_days if duration_days is None else duration_days
        found = await repo.active_subscription(s, user_id)
        stale_mark = None
        if found is not None:
            if not await repo.deactivate_subscription(s, found.id):
                return None
            stale_mark = found.windows_stale_at
        sub = Subscription(
            user_id=user_id, plan_id=plan.id, start_date=now,
            end_date=now + timedelta(days=days) if days else None,
            is_active=True, windows_stale_at=stale_mark,
        )
        s.add(sub)
        await s.flush()
        return sub

    async def announce(self, sub: Subscription, payment_id: UUID | None = None) -> None:
        """Tell everyone keeping a copy of the user's plan (the gateway's plan cache). After the commit:
        a lost event only leaves the copy until its short TTL, never a wrong period."""
        if self.events is None:
            return
        event = b.SubscriptionStarted(user_id=sub.user_id, subscription_id=sub.id, plan_id=sub.plan_id,
                                      start_date=sub.start_date, end_date=sub.end_date, payment_id=payment_id)
        try:
            await self.events.subscription_started(event)
        except Exception:
            log.exception("could not announce subscription %s of user %s", sub.id, sub.user_id)
