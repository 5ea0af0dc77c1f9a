"""The same billing on PostgreSQL (production's database): migrations, seeding, SQL dialect paths
(partial unique index, ON CONFLICT, FOR UPDATE, FILTER) and a concurrent storm."""

import asyncio
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from billing.main import MIGRATIONS
from billing.models import BillingTable
from billing.seed import seed_plans

from shared.contracts import billing as b
from shared.db import make_engine, make_session_factory, transaction
from shared.errors import LimitExceeded
from shared.migrations import upgrade_to_head
from tests.billing.conftest import START, build_env, close_env


async def test_migrations_match_the_models_on_postgres(postgres_url):
    await upgrade_to_head(postgres_url, MIGRATIONS)
    engine = make_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), BillingTable.metadata)
            )
        factory = make_session_factory(engine)
        async with transaction(factory) as s:
            assert await seed_plans(s, START)
    finally:
        await engine.dispose()
    assert diff == []


@pytest.fixture
async def pg_env(postgres_url, redis_url):
    env = await build_env(postgres_url, redis_url)
    yield env
    await close_env(env)


async def test_billing_flow_on_postgres(pg_env):
    env, user = pg_env, 42
    plan = await env.plan(duration_days=0, hourly_max_messages=10)
    assert plan.id == 4  # the sequence moved past the seeded ids
    await env.subscribe(user, plan)
    results = await asyncio.gather(*(env.admit(user) for _ in range(40)), return_exceptions=True)
    admitted = [r for r in results if isinstance(r, b.Admission)]
    assert len(admitted) == 10 and all(isinstance(r, LimitExceeded) for r in results if r not in admitted)
    await asyncio.gather(*(env.complete(a, user, cost=Decimal("0.000001")) for a in admitted * 2))
    [usage] = await env.service.session_usages(b.UserQuery(user_id=user))
    assert usage.tokens_count == 1_500 and usage.cost_usd == Decimal("0.00001")
    await env.flush()
    report = await env.usage(user)
    assert report["hourly_messages"].used == 10 and report["hourly_tokens"].used == 1_500
    subs = await asyncio.gather(*(env.service.get_subscription(b.GetSubscription(user_id=7)) for _ in range(10)))
    assert len({s.id for s in subs}) == 1  # one default subscription however many ask at once
