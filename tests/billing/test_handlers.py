"""The billing process over the real broker: its app starts (migrations, seed, topology), answers
every RPC query, and consumes reply and registration events idempotently."""

import asyncio
import random
import uuid
from decimal import Decimal

import httpx
import pytest
from billing.main import create_app
from billing.models import Subscription, UsageLedger
from billing.settings import BillingSettings
from sqlmodel import select

from shared import topology
from shared.broker import make_broker
from shared.clock import FrozenClock
from shared.contracts import billing as b
from shared.contracts.chat import ExchangeAbandoned
from shared.contracts.gateway import UserRegistered
from shared.contracts.llm import ReplyCompleted, ReplyFailed, Usage
from shared.errors import LimitExceeded, NotFound, ValidationFailed
from shared.rpc import RpcClient
from tests.billing.conftest import START, flush_prefix

Q = b.RpcNames


@pytest.fixture
def user():
    return random.randint(9_000_000, 9_999_999)


@pytest.fixture
async def running(tmp_path, rabbit_url, redis_url, user):
    settings = BillingSettings(
        BILLING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/billing.db", rabbit_url=rabbit_url, redis_url=redis_url
    )
    app = create_app(settings, FrozenClock(START))
    async with app.router.lifespan_context(app):
        rpc = RpcClient(rabbit_url, timeout=10)
        await rpc.connect()
        publisher = make_broker(rabbit_url)
        await publisher.connect()
        yield app, rpc, publisher
        await publisher.stop()
        await rpc.close()
        await flush_prefix(app.state.billing["redis"], f"billing:{{u{user}}}")


async def eventually(check, attempts: int = 200):
    """Poll until `check()` is truthy (a consumer works asynchronously); fail after a while."""
    for _ in range(attempts):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("the event was not consumed")


async def rows(app, model, **where):
    engine = app.state.billing["engine"]
    from sqlmodel.ext.asyncio.session import AsyncSession

    async with AsyncSession(engine) as s:
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return list((await s.exec(query)).all())


def admit_request(user_id: int, **kw) -> b.AdmitExchange:
    fields = dict(user_id=user_id, exchange_id=uuid.uuid4(), session_id=5, model="test/paid", is_free_model=False,
                  token_cost_multiplier=Decimal("1.00"), prompt_tokens=50, max_reply_tokens=512)
    return b.AdmitExchange(**{**fields, **kw})


async def test_rpc_queries_answer_over_the_broker(running, user):
    _, rpc, publisher = running
    assert await rpc.call(Q.PING, {}) == {"pong": True}
    sub = await rpc.call(Q.GET_SUBSCRIPTION, b.GetSubscription(user_id=user), b.Subscription)
    assert sub.subscription_type.sku == "FREE_SUB_30D" and sub.end_date is None

    first = await rpc.call(Q.ADMIT, admit_request(user), b.Admission)
    assert first.max_tokens == 512 and first.rate_limit == b.RateLimitInfo(limit=2, remaining=1, reset_seconds=3_600)
    await rpc.call(Q.ADMIT, admit_request(user), b.Admission)
    with pytest.raises(LimitExceeded) as info:
        await rpc.call(Q.ADMIT, admit_request(user), b.Admission)
    assert info.value.details["limit"] == {"name": "hourly_messages", "limit": 2, "used": 2, "retry_after": 3_600}
    # a release is an event (chat publishes it for an exchange admitted but never stored)
    await publisher.publish(ExchangeAbandoned(exchange_id=first.exchange_id, user_id=user), exchange=topology.EVENTS,
                            routing_key=topology.Keys.EXCHANGE_ABANDONED, persist=True)

    async def admitted_again():
        try:
            return await rpc.call(Q.ADMIT, admit_request(user), b.Admission)
        except LimitExceeded:
            return None

    await eventually(admitted_again)

    usage = await rpc.call(Q.GET_USAGE, b.UserQuery(user_id=user), b.UsageReport)
    assert usage.subscription_type_id == 1 and [row.name for row in usage.limits] == list(b.LIMIT_NAMES)
    assert await rpc.call(Q.LIST_SESSION_USAGES, b.UserQuery(user_id=user), list[b.SessionUsage]) == []

    premium = await rpc.call(Q.START_SUBSCRIPTION, b.StartSubscription(user_id=user, plan_id=3), b.Subscription)
    assert premium.subscription_type.name == "Premium" and premium.end_date is not None


async def test_plan_admin_queries(running):
    _, rpc, _ = running
    assert [p.id for p in await rpc.call(Q.LIST_PLANS, b.ListPlans(), list[b.Plan])] == [1, 2, 3]
    created = await rpc.call(Q.CREATE_PLAN, b.CreatePlan(fields={"name": "Team", "sku": "TEAM",
                                                                 "max_openrouter_cost_usd": "5.50"}), b.Plan)
    assert created.max_openrouter_cost_usd == Decimal("5.50")
    updated = await rpc.call(Q.UPDATE_PLAN, b.UpdatePlan(plan_id=created.id, partial=True,
                                                         fields={"weekly_max_messages": 70}), b.Plan)
    assert updated.weekly_max_messages == 70
    assert await rpc.call(Q.GET_PLAN, b.PlanQuery(plan_id=created.id), b.Plan) == updated
    with pytest.raises(ValidationFailed) as info:  # billing's own refusal comes back as the RPC's error
        await rpc.call(Q.CREATE_PLAN, b.CreatePlan(fields={"sku": "BAD", "daily_max_tokens": 5}))
    assert "name" in info.value.details["fields"]
    await rpc.call(Q.DELETE_PLAN, b.PlanQuery(plan_id=created.id))
    with pytest.raises(NotFound):
        await rpc.call(Q.GET_PLAN, b.PlanQuery(plan_id=created.id), b.Plan)


async def test_reply_events_are_billed_once_and_failures_release(running, user):
    app, rpc, broker = running
    paid = await rpc.call(Q.ADMIT, admit_request(user), b.Admission)
    failing = await rpc.call(Q.ADMIT, admit_request(user), b.Admission)
    completed = ReplyCompleted(
        exchange_id=paid.exchange_id, session_id=5, user_id=user, model="test/paid", content="hi",
        usage=Usage(prompt_tokens=50, completion_tokens=25, total_tokens=75, cost_usd=Decimal("0.0001")),
    )
    for event in (completed, completed):  # at-least-once delivery: the same event twice
        await broker.publish(event, exchange=topology.EVENTS, routing_key=topology.Keys.REPLY_COMPLETED, persist=True)
    await broker.publish(ReplyFailed(exchange_id=failing.exchange_id, session_id=5, user_id=user, error="x"),
                         exchange=topology.EVENTS, routing_key=topology.Keys.REPLY_FAILED, persist=True)

    async def both_settled():
        usage = await rpc.call(Q.GET_USAGE, b.UserQuery(user_id=user), b.UsageReport)
        hourly = {row.name: row.used for row in usage.limits}
        return hourly["hourly_messages"] == 1 and hourly["hourly_tokens"] == 75

    await eventually(both_settled)
    # a later completion on the same queue is consumed after the duplicate
    third = await rpc.call(Q.ADMIT, admit_request(user), b.Admission)
    await broker.publish(completed.model_copy(update={"exchange_id": third.exchange_id, "message_id": uuid.uuid4()}),
                         exchange=topology.EVENTS, routing_key=topology.Keys.REPLY_COMPLETED, persist=True)
    await eventually(lambda: rows(app, UsageLedger, exchange_id=third.exchange_id))
    assert len(await rows(app, UsageLedger, user_id=user)) == 2
    [usage] = await rpc.call(Q.LIST_SESSION_USAGES, b.UserQuery(user_id=user), list[b.SessionUsage])
    assert usage.tokens_count == 150 and usage.cost_usd == Decimal("0.0002")


async def test_user_registered_opens_the_default_plan(running, user):
    app, _, broker = running
    event = UserRegistered(user_id=user, phone_number="+989121234567")
    await broker.publish(event, exchange=topology.EVENTS, routing_key=topology.Keys.USER_REGISTERED, persist=True)
    [sub] = await eventually(lambda: rows(app, Subscription, user_id=user))
    assert sub.plan_id == 1 and sub.is_active


async def test_readiness_checks_database_broker_and_redis(running):
    app, _, _ = running
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://billing") as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"ready": True, "checks": {"database": True, "broker": True, "redis": True}}
