"""Billing fixtures: the real service over a fresh SQLite database and the real Redis (its own key
prefix per test, so "losing Redis" can be simulated without touching anyone else's keys)."""

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from billing.models import BillingTable
from billing.seed import seed_plans
from billing.service import BillingService
from billing.settings import BillingSettings
from redis.asyncio import Redis

from shared.cache import make_redis
from shared.clock import FrozenClock
from shared.contracts import billing as b
from shared.contracts.llm import ReplyCompleted, Usage
from shared.db import SessionFactory, create_schema, make_engine, make_session_factory, transaction

START = datetime(2026, 1, 1, tzinfo=UTC)
USERS = itertools.count(1_000)


@pytest.fixture
def user() -> int:
    """A user id no other test of the run has (a test that talks to shared servers sets its own)."""
    return next(USERS)


async def flush_prefix(redis: Redis, prefix: str) -> int:
    """Delete every key of this billing instance: what billing sees after a Redis FLUSHALL."""
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await redis.delete(*keys)
    return len(keys)


@dataclass
class BillingEnv:
    service: BillingService
    clock: FrozenClock
    redis: Redis
    factory: SessionFactory
    prefix: str
    sessions: dict = field(default_factory=dict)

    def request(self, user_id: int, **overrides) -> b.AdmitExchange:
        fields = dict(
            user_id=user_id, exchange_id=uuid.uuid4(), session_id=1, model="test/paid",
            is_free_model=False, token_cost_multiplier=Decimal("1.00"), prompt_tokens=100,
            max_reply_tokens=1_024, is_image=False,
        )
        fields.update(overrides)
        return b.AdmitExchange(**fields)

    async def admit(self, user_id: int, **overrides) -> b.Admission:
        return await self.service.admit(self.request(user_id, **overrides))

    def completed(self, admission_or_id, user_id: int, *, prompt: int = 100, completion: int = 50,
                  cost: Decimal | None = Decimal("0"), images: int = 0, session_id: int = 1,
                  stopped: bool = False) -> ReplyCompleted:
        exchange_id = getattr(admission_or_id, "exchange_id", admission_or_id)
        return ReplyCompleted(
            exchange_id=exchange_id, session_id=session_id, user_id=user_id, model="test/paid",
            content="reply", image_urls=[f"/media/{i}.png" for i in range(images)],
            usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                        cost_usd=cost),
            stopped=stopped,
        )

    async def complete(self, admission_or_id, user_id: int, **kw) -> ReplyCompleted:
        event = self.completed(admission_or_id, user_id, **kw)
        await self.service.on_reply_completed(event)
        return event

    async def release(self, admission_or_id, user_id: int) -> None:
        exchange_id = getattr(admission_or_id, "exchange_id", admission_or_id)
        await self.service.release(exchange_id, user_id)

    async def flush(self) -> int:
        return await flush_prefix(self.redis, self.prefix)

    async def plan(self, **fields) -> b.Plan:
        """A plan with every limit unlimited unless given."""
        name = f"plan-{uuid.uuid4().hex[:8]}"
        return await self.service.plans.add({"name": name, "sku": name, **fields})

    async def subscribe(self, user_id: int, plan: b.Plan, days: int | None = None) -> b.Subscription:
        return await self.service.start_subscription(
            b.StartSubscription(user_id=user_id, plan_id=plan.id, duration_days=days)
        )

    async def usage(self, user_id: int) -> dict[str, b.LimitStatus]:
        report = await self.service.usage(b.UserQuery(user_id=user_id))
        return {row.name: row for row in report.limits}


async def build_env(database_url: str, redis_url: str, *, ttl: int = 900, margin: int = 0) -> BillingEnv:
    engine = make_engine(database_url)
    await create_schema(engine, BillingTable.metadata)
    factory = make_session_factory(engine)
    clock = FrozenClock(START)
    async with transaction(factory) as s:
        await seed_plans(s, START)
    redis = make_redis(redis_url)
    settings = BillingSettings(
        BILLING_DATABASE_URL=database_url, REDIS_URL=redis_url, RESERVATION_TTL_SECONDS=ttl,
        BILLING_PROMPT_MARGIN_PERCENT=margin,
    )
    prefix = f"billing-test-{uuid.uuid4().hex[:10]}"
    service = BillingService(factory, redis, settings, clock, redis_prefix=prefix)
    env = BillingEnv(service, clock, redis, factory, prefix)
    env.engine = engine  # type: ignore[attr-defined]
    return env


async def close_env(env: BillingEnv) -> None:
    await env.flush()
    await env.redis.aclose()
    await env.engine.dispose()  # type: ignore[attr-defined]


@pytest.fixture
async def env(tmp_path, redis_url):
    env = await build_env(f"sqlite+aiosqlite:///{tmp_path}/billing.db", redis_url)
    yield env
    await close_env(env)


