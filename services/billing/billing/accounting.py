"""What exchanges cost (business-rules §4): commits completed replies to the ledger exactly once,
then to the Redis windows; records title generation, which limits nothing."""

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from billing import repository as repo
from billing.batcher import WriteBatcher
from billing.limiter import LedgerEntry, UsageLimiter
from billing.rules import MONTH, effective_tokens, estimated_cost, floor_ms, to_ms, usd_to_nano
from shared import metrics
from shared.clock import Clock
from shared.contracts.llm import ReplyCompleted, TitleGenerated, Usage
from shared.errors import Unavailable

log = logging.getLogger(__name__)


def provider_tokens(usage: Usage) -> tuple[int, int, int]:
    """(prompt, completion, total) as reported; the total alone when that is all there is."""
    prompt, completion = max(0, usage.prompt_tokens), max(0, usage.completion_tokens)
    total = prompt + completion
    if total == 0:
        total = max(0, usage.total_tokens)
    return prompt, completion, total


def exchange_cost(usage: Usage, reservation: Mapping[str, Any], prompt: int, completion: int) -> Decimal:
    """OpenRouter's cost; else the model's prices applied to the tokens; else nothing known (0)."""
    if usage.cost_usd is not None:
        return max(Decimal(0), usage.cost_usd)
    estimate = estimated_cost(prompt, completion, reservation["prompt_price_usd_per_mtok"],
                              reservation["completion_price_usd_per_mtok"])
    return estimate if estimate is not None else Decimal(0)


def ledger_values(event: ReplyCompleted, reservation: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The ledger row of a completed reply, billed on the terms it was admitted with."""
    prompt, completion, tokens = provider_tokens(event.usage)
    cost = exchange_cost(event.usage, reservation, prompt, completion)
    free = reservation["is_free_model"]
    return dict(
        exchange_id=event.exchange_id, user_id=event.user_id, session_id=reservation["session_id"], kind="exchange",
        model=event.model or reservation["model"], is_free_model=free, prompt_tokens=prompt,
        completion_tokens=completion, tokens=tokens,
        effective_tokens=effective_tokens(tokens, reservation["token_cost_multiplier"], free),
        cost_usd=cost, cost_nano=usd_to_nano(cost), had_image=bool(event.image_urls), stopped=event.stopped,
        subscription_id=reservation["subscription_id"], admitted_at=reservation["admitted_at"], created_at=now,
    )


async def _write_commit(conn: AsyncConnection, event: ReplyCompleted, now: datetime
                        ) -> tuple[Mapping[str, Any], bool] | None:
    """Write the exchange's ledger row and session usage, once; answers the ledger row and whether
    this call wrote it (None: the exchange is unknown). A redelivery finds the row written the first
    time and changes nothing."""
    reservation = await repo.reservation(conn, event.exchange_id)
    if reservation is None or reservation["user_id"] != event.user_id:
        return None
    row = ledger_values(event, reservation, now)
    if not await repo.insert_ledger(conn, row):
        written = await repo.ledger_entry(conn, event.exchange_id)
        return (written, False) if written is not None else None
    free = row["is_free_model"]
    await repo.add_session_usage(
        conn, user_id=row["user_id"], session_id=row["session_id"],
        paid_tokens=0 if free else row["effective_tokens"], free_tokens=row["effective_tokens"] if free else 0,
        cost_nano=row["cost_nano"], is_free_model=free, now=now,
    )
    # The reservation row stays "open": a rebuild skips reservations already in the ledger, and a
    # reply that completes after its release is still billed (the user did get it).
    return row, True


class Accounting:
    def __init__(self, batcher: WriteBatcher, limiter: UsageLimiter, clock: Clock) -> None:
        self.batcher = batcher
        self.limiter = limiter
        self.clock = clock

    async def commit(self, event: ReplyCompleted) -> None:
        """Bill a completed (or stopped) reply once, however often the event is delivered: the ledger
        first (its unique exchange id is the guard), then the Redis windows (a no-op when done)."""
        now = floor_ms(self.clock.now())
        written = await self.batcher.run(lambda conn: _write_commit(conn, event, now))
        if written is None:
            log.warning("completion for unknown exchange %s (user %s) ignored", event.exchange_id, event.user_id)
            return
        row, first = written
        if first:  # its transaction has committed: counted once, like the bill
            metrics.RESERVATIONS.labels("committed").inc()
        if row["admitted_at"] <= now - timedelta(milliseconds=MONTH.ms + MONTH.bucket_ms):
            return  # outside every window, and its bucket too: nothing left to count in Redis
        entry = LedgerEntry(event.exchange_id, to_ms(row["admitted_at"]), row["effective_tokens"],
                            row["is_free_model"], row["had_image"], row["cost_nano"])
        try:
            counted = await self.limiter.commit(event.user_id, to_ms(now), entry, first=first)
        except Unavailable:
            log.warning("Redis unavailable committing %s; windows of user %s will be rebuilt",
                        event.exchange_id, event.user_id)
            await self.batcher.run(lambda conn: repo.mark_windows_stale(conn, event.user_id, now))
            return
        if counted == "unknown":
            # a redelivery with no trace left in Redis: whether the first delivery reached Redis is
            # unknown, so the ledger decides (rare: a completion redelivered after its reservation expired)
            log.info("windows of user %s will be rebuilt: redelivered %s", event.user_id, event.exchange_id)
            await self.batcher.run(lambda conn: repo.mark_windows_stale(conn, event.user_id, now))

    async def record_title(self, event: TitleGenerated) -> None:
        """Titles are billed (ledger kind "title") but count against no limit."""
        if event.usage is None:
            return
        now = floor_ms(self.clock.now())
        prompt, completion, tokens = provider_tokens(event.usage)
        cost = max(Decimal(0), event.usage.cost_usd or Decimal(0))
        row = dict(
            exchange_id=event.command_id, user_id=event.user_id, session_id=event.session_id, kind="title",
            model=event.model, is_free_model=False, prompt_tokens=prompt, completion_tokens=completion,
            tokens=tokens, effective_tokens=tokens, cost_usd=cost, cost_nano=usd_to_nano(cost), had_image=False,
            stopped=False, subscription_id=None, admitted_at=now, created_at=now,
        )
        if not await self.batcher.run(lambda conn: repo.insert_ledger(conn, row)):
            log.info("title %s was already recorded", event.command_id)
