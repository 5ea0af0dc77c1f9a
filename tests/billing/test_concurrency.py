"""Hundreds of simultaneous admissions at a limit boundary, from two service replicas sharing Redis
and the database: committed usage never passes the limit."""

import asyncio
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from billing.models import UsageLedger
from billing.service import BillingService
from billing.settings import BillingSettings
from sqlalchemy import func
from sqlmodel import col, select

from shared.db import make_engine, make_session_factory
from shared.errors import LimitExceeded

USERS = itertools.count(4_000)


@pytest.fixture
async def replicas(env, tmp_path):
    """The fixture's service plus a second one over its own engine: two billing processes."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/billing.db")
    settings = BillingSettings(RESERVATION_TTL_SECONDS=900)
    other = BillingService(make_session_factory(engine), env.redis, settings, env.clock, redis_prefix=env.prefix)
    yield [env.service, other]
    await engine.dispose()


async def _storm(env, services, user, n, **request):
    async def one(i):
        try:
            return await services[i % len(services)].admit(env.request(user, **request))
        except LimitExceeded as exc:
            return exc

    return await asyncio.gather(*(one(i) for i in range(n)))


async def _committed(env, user, column):
    async with env.factory() as s:
        query = select(func.count(), func.coalesce(func.sum(column), 0)).where(UsageLedger.user_id == user)
        return (await s.exec(query)).one()


async def test_message_limit_admits_exactly_up_to_it(env, replicas):
    user = next(USERS)
    await env.subscribe(user, await env.plan(duration_days=0, hourly_max_messages=10))
    results = await _storm(env, replicas, user, 300)
    admitted = [r for r in results if not isinstance(r, LimitExceeded)]
    denied = [r for r in results if isinstance(r, LimitExceeded)]
    assert len(admitted) == 10
    assert {d.details["limit"]["name"] for d in denied} == {"hourly_messages"}
    # every completion delivered twice, from both replicas at once
    await asyncio.gather(*(
        service.on_reply_completed(env.completed(a, user)) for a in admitted for service in replicas
    ))
    count, _ = await _committed(env, user, UsageLedger.effective_tokens)
    assert count == 10
    assert (await env.usage(user))["hourly_messages"].used == 10


async def test_token_limit_is_never_overshot_by_concurrent_replies(env, replicas):
    user = next(USERS)
    await env.subscribe(user, await env.plan(duration_days=0, hourly_max_tokens=10_000))
    results = await _storm(env, replicas, user, 200, prompt_tokens=100, max_reply_tokens=1_000)
    admitted = [r for r in results if not isinstance(r, LimitExceeded)]
    assert len(admitted) >= 9  # 9 full replies fit; smaller caps may squeeze in more
    # each reply uses every token it was allowed
    await asyncio.gather(*(
        replicas[i % 2].on_reply_completed(env.completed(a, user, prompt=100, completion=a.max_tokens))
        for i, a in enumerate(admitted)
    ))
    count, tokens = await _committed(env, user, UsageLedger.effective_tokens)
    assert count == len(admitted)
    assert tokens <= 10_000
    assert tokens == sum(100 + a.max_tokens for a in admitted)


async def test_first_admissions_of_new_users_race_their_rebuild_safely(env, replicas):
    """Every storm starts with no Redis state: all requests find it stale at once and rebuild."""
    for _ in range(4):
        user = next(USERS)
        await env.subscribe(user, await env.plan(duration_days=0, hourly_max_messages=5))
        results = await _storm(env, replicas, user, 60)
        assert sum(not isinstance(r, LimitExceeded) for r in results) == 5


async def test_cost_cap_holds_for_a_model_without_prices(env, replicas):
    """A model the catalog has no prices for, racing sends near the cap: each reservation carries a
    cost estimate at UNPRICED_MODEL_USD_PER_MTOK, so the replies that do get in cost at most the
    cap even when each one costs what it was allowed at that price."""
    user = next(USERS)
    cap = Decimal("1.00")
    await env.subscribe(user, await env.plan(duration_days=0, max_openrouter_cost_usd=cap))
    # a first exchange already spent most of the budget
    first = await env.admit(user, prompt_tokens=100, max_reply_tokens=50)
    await env.complete(first, user, prompt=100, completion=50, cost=Decimal("0.80"))
    results = await _storm(env, replicas, user, 200, prompt_tokens=100, max_reply_tokens=200)
    admitted = [r for r in results if not isinstance(r, LimitExceeded)]
    denied = [r for r in results if isinstance(r, LimitExceeded)]
    price = env.service.admissions.unpriced / Decimal(1_000_000)  # USD per token
    await asyncio.gather(*(
        replicas[i % 2].on_reply_completed(env.completed(
            a, user, prompt=100, completion=a.max_tokens, cost=(100 + a.max_tokens) * price))
        for i, a in enumerate(admitted)
    ))
    count, cost = await _committed(env, user, UsageLedger.cost_usd)
    assert count == 1 + len(admitted)
    assert cost <= cap
    assert admitted and {d.details["limit"]["name"] for d in denied} == {"max_openrouter_cost_usd"}


async def test_racing_sends_where_buckets_and_exact_windows_differ(env, replicas):
    """Storms of sends at moments where the hour counted in minute buckets still holds exchanges the
    exact sliding hour has let go: the buckets admit no more than the exact hour would (nothing
    there), the denial's Retry-After is the bucket's end (never before the exact time, at most one
    bucket after it), and over the whole run no exact sliding hour holds more than the limit."""
    user = next(USERS)
    limit, hour = 10, 3_600
    await env.subscribe(user, await env.plan(duration_days=0, hourly_max_messages=limit))

    async def storm_and_commit(n):
        results = await _storm(env, replicas, user, n)
        admitted = [r for r in results if not isinstance(r, LimitExceeded)]
        await asyncio.gather(*(s.on_reply_completed(env.completed(a, user)) for a in admitted for s in replicas))
        return admitted, [r for r in results if isinstance(r, LimitExceeded)]

    env.clock.advance(seconds=30)  # in the first minute's bucket
    assert len((await storm_and_commit(4))[0]) == 4
    env.clock.advance(minutes=40)
    assert len((await storm_and_commit(100))[0]) == limit - 4
    env.clock.advance(seconds=hour - 40 * 60 + 10)  # 10 s after the first four left the exact hour
    async with env.factory() as s:
        since = env.clock.now() - timedelta(seconds=hour)
        in_exact_hour = (await s.exec(select(func.count()).where(
            UsageLedger.user_id == user, col(UsageLedger.admitted_at) > since))).one()
    assert in_exact_hour == limit - 4  # the exact hour would admit four more here
    admitted, denied = await storm_and_commit(100)
    assert admitted == []  # their minute's bucket is still inside the hour
    # the bucket [0:00, 0:01) stops counting at 1:01; the exact hour freed them at 1:00:30
    assert {d.details["limit"]["retry_after"] for d in denied} == {20}
    env.clock.advance(seconds=20)
    assert len((await storm_and_commit(100))[0]) == 4
    async with env.factory() as s:
        times = sorted((await s.exec(select(UsageLedger.admitted_at).where(UsageLedger.user_id == user))).all())
    assert len(times) == limit + 4
    for t in times:  # every exact sliding hour ending at an admission holds at most the limit
        assert sum(1 for u in times if t - timedelta(seconds=hour) < u <= t) <= limit
