"""Keeps each user's Redis windows a faithful cache of the SQL ledger: rebuilds them when Redis lost
them (marker missing) or when a commit could not reach Redis (the subscription's stale mark)."""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from billing import repository as repo
from billing.limiter import (
    LedgerEntry,
    OpenReservation,
    PeriodChanged,
    Snapshot,
    Stale,
    UsageLimiter,
)
from billing.rules import MONTH, floor_ms, to_ms
from billing.subscriptions import Period
from shared.clock import Clock
from shared.db import SessionFactory, transaction
from shared.errors import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 5
WAIT_STEPS = 250  # × 20 ms: how long a request waits for another one's rebuild


class Windows:
    def __init__(self, limiter: UsageLimiter, factory: SessionFactory, clock: Clock) -> None:
        self.limiter = limiter
        self.factory = factory
        self.clock = clock

    async def run(self, user_id: int, sub: Period, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a limiter operation over a state that reflects the ledger, rebuilding it first if needed."""
        if sub.windows_stale_at is not None:
            await self.rebuild(user_id, sub, force=True)
        for attempt in range(ATTEMPTS):
            try:
                return await operation()
            except Stale as exc:
                # stale again right after a rebuild: a marker without its state (evicted keys); a new
                # period: the state exists but its period totals must be read from the ledger
                await self.rebuild(user_id, sub, force=attempt > 0 or isinstance(exc, PeriodChanged))
        raise Unavailable("usage windows could not be rebuilt")

    async def rebuild(self, user_id: int, sub: Period, *, force: bool) -> None:
        token = uuid.uuid4().hex
        if not await self.limiter.begin_rebuild(user_id, token, force=force):
            await self._wait_for_other(user_id)
            return
        try:
            if not force and await self.limiter.epoch(user_id) is not None:
                return  # another request rebuilt it between our look and our lock
            for _ in range(ATTEMPTS):
                now = floor_ms(self.clock.now())
                snapshot = await self.snapshot(user_id, sub, now)
                if await self.limiter.load(user_id, to_ms(now), token, snapshot):
                    log.info("rebuilt usage windows of user %s from the ledger (%d entries, %d open)",
                             user_id, len(snapshot.entries), len(snapshot.reservations))
                    break
                # a commit or release landed while the ledger was read: read it again
            else:
                raise Unavailable("usage windows keep changing during their rebuild")
            if sub.windows_stale_at is not None:
                async with transaction(self.factory) as s:
                    await repo.clear_windows_stale(s, sub.id, sub.windows_stale_at)
                sub.windows_stale_at = None
        finally:
            await self.limiter.end_rebuild(user_id, token)

    async def _wait_for_other(self, user_id: int) -> None:
        for _ in range(WAIT_STEPS):
            if await self.limiter.epoch(user_id) is not None:
                return
            await asyncio.sleep(0.02)
        raise Unavailable("usage windows are being rebuilt")

    async def snapshot(self, user_id: int, sub: Period, now) -> Snapshot:
        async with self.factory() as s:
            # a window counts the whole bucket its oldest moment falls in: one bucket further back
            since = now - timedelta(milliseconds=MONTH.ms + MONTH.bucket_ms)
            rows = await repo.window_entries(s, user_id, since)
            paid, free, cost = await repo.period_totals(s, user_id, sub.start_date)
            live = await repo.live_reservations(s, user_id, now)
        billed = {row.exchange_id for row in rows}
        # commits recent enough that their completion may still be redelivered, or their reservation
        # still be held in Redis: remembered as counted (limiter.lua), as a commit does
        hold = timedelta(milliseconds=self.limiter.ttl_ms)
        recent = [
            (row.exchange_id, to_ms(max(row.admitted_at, row.created_at) + hold))
            for row in rows
            if max(row.admitted_at, row.created_at) + hold > now
        ]
        return Snapshot(
            period_start_ms=to_ms(sub.start_date),
            period_paid_tokens=paid,
            period_free_tokens=free,
            period_cost_nano=cost,
            entries=[
                LedgerEntry(row.exchange_id, to_ms(row.admitted_at), row.effective_tokens, row.is_free_model,
                            row.had_image, row.cost_nano)
                for row in rows
            ],
            reservations=[
                OpenReservation(r.exchange_id, to_ms(r.admitted_at), to_ms(r.expires_at), r.reserved_tokens,
                                r.is_free_model, r.is_image, r.reserved_cost_nano, r.max_tokens)
                for r in live
                if r.status == "open" and r.exchange_id not in billed
            ],
            released=[r.exchange_id for r in live if r.status == "released"],
            committed=recent,
        )
