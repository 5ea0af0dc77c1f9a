"""The gateway's copy of each user's plan id (real Redis; billing's RPC is a counting stand-in)."""

from datetime import timedelta

import pytest
from gateway.plans import PREFIX, PlanCache

from shared.contracts import billing as b


class CountingBilling:
    """Answers GET_SUBSCRIPTION like billing does, counting the calls."""

    def __init__(self, clock, plan_id: int = 3, ends_in: timedelta | None = None) -> None:
        self.clock, self.plan_id, self.ends_in, self.calls = clock, plan_id, ends_in, 0

    async def call(self, query: str, payload: b.GetSubscription, result_type: type):
        assert query == b.RpcNames.GET_SUBSCRIPTION
        self.calls += 1
        now = self.clock.now()
        return result_type.model_validate({
            "id": 1, "is_active": True, "start_date": now,
            "end_date": now + self.ends_in if self.ends_in else None,
            "subscription_type": b.Plan(id=self.plan_id, name="Plan", sku=f"P{self.plan_id}", price="0",
                                        duration_days=30, created_at=now).model_dump(),
        })


@pytest.fixture
async def user_id(redis):
    uid = 900_000_001
    await redis.delete(f"{PREFIX}{uid}")
    yield uid
    await redis.delete(f"{PREFIX}{uid}")


async def test_plan_is_asked_once_then_served_from_redis(redis, clock, user_id):
    billing = CountingBilling(clock, plan_id=3)
    plans = PlanCache(redis, billing, clock, ttl_seconds=10)
    assert [await plans.plan_id(user_id) for _ in range(3)] == [3, 3, 3]
    assert billing.calls == 1
    assert 0 < await redis.ttl(f"{PREFIX}{user_id}") <= 10


async def test_forget_makes_the_next_request_ask_billing(redis, clock, user_id):
    billing = CountingBilling(clock, plan_id=1)
    plans = PlanCache(redis, billing, clock, ttl_seconds=10)
    assert await plans.plan_id(user_id) == 1
    billing.plan_id = 3  # staff moved the user to another plan
    await plans.forget(user_id)
    assert await plans.plan_id(user_id) == 3 and billing.calls == 2


async def test_entry_never_outlives_the_subscription(redis, clock, user_id):
    plans = PlanCache(redis, CountingBilling(clock, ends_in=timedelta(seconds=2.5)), clock, ttl_seconds=60)
    await plans.plan_id(user_id)
    assert 0 < await redis.ttl(f"{PREFIX}{user_id}") <= 3


async def test_zero_ttl_always_asks(redis, clock, user_id):
    billing = CountingBilling(clock)
    plans = PlanCache(redis, billing, clock, ttl_seconds=0)
    await plans.plan_id(user_id)
    await plans.plan_id(user_id)
    assert billing.calls == 2 and await redis.exists(f"{PREFIX}{user_id}") == 0
