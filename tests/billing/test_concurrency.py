"""Hundreds of simultaneous admissions at a limit boundary, from two service replicas sharing Redis
and the database: committed usage never passes the limit."""

import asyncio
import itertools
from decimal import Decimal

import pytest
from billing.models import UsageLedger
from billing.service import BillingService
from billing.settings import BillingSettings
from sqlalchemy import func
from sqlmodel import select

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
