"""A user's Redis footprint is bounded by the number of buckets, not by their usage (business-rules
§5, issue 20): 10,000 exchanges spread over 30 days, or 2,000 in ten minutes, recorded through the
real limiter script with a controllable clock, leave at most 32 KiB of keys behind."""

import uuid

import pytest
from billing.limiter import ExchangeTerms, LedgerEntry, Snapshot, UsageLimiter
from billing.rules import plan_limits, to_ms

from tests.billing.conftest import START

BOUND = 32 * 1024
DAYS = 30


async def user_bytes(limiter: UsageLimiter, user_id: int) -> int:
    """`MEMORY USAGE` summed over every key of the user's limiter state."""
    total = 0
    for key in limiter.keys(user_id):
        total += await limiter.redis.memory_usage(key, samples=0) or 0
    return total


async def record(limiter: UsageLimiter, user_id: int, limits: tuple[int, ...], exchanges: int,
                 seconds: int) -> int:
    """Admit and commit `exchanges` exchanges evenly over `seconds`; answers the bytes left in Redis."""
    start = to_ms(START)
    assert await limiter.load(user_id, start, "epoch", Snapshot(period_start_ms=start))
    step = seconds * 1000 // max(1, exchanges)
    for n in range(exchanges):
        now = start + n * step
        terms = ExchangeTerms(uuid.uuid4(), start, n % 3 == 0, 1, 1, 200, 300, n % 7 == 0, 1_000, 2_000)
        admitted = await limiter.admit(user_id, now, terms, limits)
        entry = LedgerEntry(terms.exchange_id, now, 200 + n % 300, terms.is_free, terms.is_image, 500_000)
        assert await limiter.commit(user_id, now + 5_000, entry) == "ok", admitted
    return await user_bytes(limiter, user_id)


@pytest.mark.parametrize("exchanges,seconds", [(0, 0), (100, DAYS * 86_400), (10_000, DAYS * 86_400), (2_000, 600)])
async def test_a_users_redis_footprint_is_bounded_whatever_their_usage(env, exchanges, seconds, capsys):
    _, plan = await env.service.subscriptions.current(1)  # the default plan: limits on every window
    limits = tuple(0 for _ in plan_limits(plan))  # unlimited, so every exchange is admitted and kept
    used = await record(env.service.limiter, 900_000 + exchanges, limits, exchanges, seconds)
    with capsys.disabled():
        print(f"\nRedis bytes per user after {exchanges} exchanges over {seconds} s: {used}")
    assert used <= BOUND
