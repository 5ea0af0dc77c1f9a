"""Subscriptions (business-rules §2) and the plan catalog for the admin API."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from billing.models import Subscription
from billing.seed import SEED_PLANS
from pydantic import ValidationError
from sqlmodel import select

from shared.contracts import billing as b
from shared.contracts.admin_fields import PlanPatch
from shared.contracts.gateway import UserRegistered
from shared.errors import Conflict, LimitExceeded, NotFound, ValidationFailed
from tests.billing.conftest import START
from tests.support.contracts import unchecked, unchecked_values


async def subscriptions_of(env, user_id):
    async with env.factory() as s:
        query = select(Subscription).where(Subscription.user_id == user_id).order_by(Subscription.id)
        return list((await s.exec(query)).all())


async def test_a_registered_user_gets_the_default_plan_without_end(env, user):
    await env.service.on_user_registered(UserRegistered(user_id=user, phone_number="+989121234567"))
    await env.service.on_user_registered(UserRegistered(user_id=user, phone_number="+989121234567"))
    sub = await env.service.get_subscription(b.GetSubscription(user_id=user))
    assert sub.subscription_type.sku == "FREE_SUB_30D" and sub.subscription_type.id == 1
    assert (sub.start_date, sub.end_date, sub.is_active) == (START, None, True)
    assert len(await subscriptions_of(env, user)) == 1


async def test_an_unknown_user_gets_the_default_plan_on_demand_once(env, user):
    subs = await asyncio.gather(*(env.service.get_subscription(b.GetSubscription(user_id=user)) for _ in range(10)))
    assert len({s.id for s in subs}) == 1
    assert len(await subscriptions_of(env, user)) == 1


async def test_starting_a_plan_opens_a_period_that_resets_totals_but_not_windows(env, user):
    await env.complete(await env.admit(user, prompt_tokens=100), user, prompt=100, completion=100)
    env.clock.advance(minutes=5)
    sub = await env.subscribe(user, await env.plan(name="Gold", sku="GOLD", max_tokens=10_000, hourly_max_messages=5))
    assert sub.subscription_type.name == "Gold"
    assert (sub.start_date, sub.end_date) == (START + timedelta(minutes=5), START + timedelta(minutes=5, days=30))
    report = await env.usage(user)
    assert report["max_tokens"].used == 0  # the new period counts from its start
    assert report["hourly_messages"].used == 1  # windows carry on
    [old, new] = await subscriptions_of(env, user)
    assert (old.is_active, new.is_active) == (False, True)


async def test_duration_can_be_overridden(env, user):
    sub = await env.service.start_subscription(b.StartSubscription(user_id=user, plan_id=3, duration_days=7))
    assert sub.end_date - sub.start_date == timedelta(days=7) and sub.subscription_type.name == "Premium"


@pytest.mark.parametrize("request_fields,field", [
    ({"plan_id": 999}, "subscription_type_id"),
    ({"plan_id": 2, "duration_days": 0}, "duration_days"),
])
async def test_starting_an_unknown_plan_or_a_bad_duration_is_refused(env, user, request_fields, field):
    with pytest.raises(ValidationFailed) as info:
        await env.service.start_subscription(b.StartSubscription(user_id=user, **request_fields))
    assert field in info.value.details["fields"]


async def test_an_ended_period_falls_back_to_the_default_plan_at_once(env, user):
    premium = await env.service.start_subscription(b.StartSubscription(user_id=user, plan_id=3))
    for _ in range(3):
        await env.complete(await env.admit(user), user)
    env.clock.advance(days=30, hours=2)  # the period ended two hours ago
    sub = await env.service.get_subscription(b.GetSubscription(user_id=user))
    assert sub.subscription_type.sku == "FREE_SUB_30D"
    assert (sub.start_date, sub.end_date) == (premium.end_date, None)
    # the default plan's limits apply at once: never a user without limits
    await env.complete(await env.admit(user), user)
    await env.complete(await env.admit(user), user)
    with pytest.raises(LimitExceeded) as info:
        await env.admit(user)
    assert info.value.details["limit"]["name"] == "hourly_messages"


async def test_without_the_default_plan_there_is_no_subscription(tmp_path, redis_url, user):
    from tests.billing.conftest import build_env, close_env

    env = await build_env(f"sqlite+aiosqlite:///{tmp_path}/nodefault.db", redis_url)
    env.service.subscriptions.default_sku = "MISSING"
    try:
        with pytest.raises(NotFound) as info:
            await env.service.get_subscription(b.GetSubscription(user_id=user))
        assert info.value.message == "No active subscription found"
    finally:
        await close_env(env)


# --- plans ------------------------------------------------------------------------------------------


async def test_the_seed_plans_have_fixed_ids_and_the_rules_values(env):
    plans = await env.service.plans.list()
    assert [(p.id, p.name, p.sku) for p in plans] == [
        (1, "Free", "FREE_SUB_30D"), (2, "Basic", "BASIC_SUB_30D"), (3, "Premium", "PREMIUM_SUB_30D")
    ]
    free, basic, premium = plans
    assert (free.max_tokens, free.hourly_max_messages, free.monthly_max_tokens) == (50_000, 2, 1_000_000)
    assert (basic.price, basic.max_tokens_free, basic.daily_image_generation_limit) == (Decimal("70000"), 0, 10)
    assert (premium.max_tokens, premium.monthly_max_messages, premium.duration_days) == (0, 6_000, 30)
    assert len(SEED_PLANS) == 3


async def test_plan_create_get_update_and_delete(env):
    created = await env.service.plans.create(b.CreatePlan(fields={
        "name": "Student", "sku": "STUDENT", "price": "9.99", "hourly_max_messages": 4, "id": 77,
    }))
    assert created.id not in (1, 2, 3, 77) and created.price == Decimal("9.99")
    assert created.duration_days == 30 and created.daily_max_tokens == 0 and created.created_at == START
    assert await env.service.plans.get(created.id) == created
    patched = await env.service.plans.update(b.UpdatePlan(plan_id=created.id, partial=True, fields={"daily_max_tokens": 9}))
    assert (patched.daily_max_tokens, patched.hourly_max_messages) == (9, 4)
    with pytest.raises(ValidationFailed) as careless:  # PUT must name every field: never a reset to defaults
        await env.service.plans.update(b.UpdatePlan(plan_id=created.id, fields={"description": "x"}))
    assert {"name", "price", "hourly_max_messages", "daily_max_tokens"} <= set(careless.value.details["fields"])
    assert await env.service.plans.get(created.id) == patched
    whole = {k: v for k, v in patched.model_dump(mode="json").items() if k not in ("id", "created_at")}
    put = await env.service.plans.update(b.UpdatePlan(plan_id=created.id, fields=whole | {"description": "x",
                                                                                          "hourly_max_messages": 0}))
    assert (put.name, put.hourly_max_messages, put.daily_max_tokens, put.description) == ("Student", 0, 9, "x")
    await env.service.plans.delete(created.id)
    with pytest.raises(NotFound):
        await env.service.plans.get(created.id)


@pytest.mark.parametrize("fields,bad", [
    ({"sku": "X"}, "name"),
    ({"name": "X", "sku": "Y", "hourly_max_messages": -1}, "hourly_max_messages"),
    ({"name": "X", "sku": "Y", "daily_max_tokens": "lots"}, "daily_max_tokens"),
    ({"name": "X", "sku": "Y", "price": "1.234"}, "price"),
    ({"name": "X", "sku": "FREE_SUB_30D"}, "sku"),
    ({"name": "Basic", "sku": "Y"}, "name"),
    ({"name": "X", "sku": "Y", "daily_max_tokens": 2**31}, "daily_max_tokens"),  # the integer column's bound
    ({"name": "N\x00", "sku": "Y"}, "name"),
    ({"name": "\u200b", "sku": "Y"}, "name"),
])
@unchecked_values
async def test_invalid_plans_are_refused_field_by_field(env, fields, bad):
    try:
        query = b.CreatePlan(fields=fields)
    except ValidationError as refused:  # a bound or the text rule: the contract refuses it as the gateway does
        assert [e["loc"] for e in refused.errors()] == [("fields", bad)]
        query = unchecked(b.CreatePlan, PlanPatch, fields)  # and billing again (defence in depth)
    with pytest.raises(ValidationFailed) as info:
        await env.service.plans.create(query)
    assert bad in info.value.details["fields"]


async def test_plans_in_use_and_the_default_plan_cannot_be_deleted(env, user):
    plan = await env.plan()
    await env.subscribe(user, plan)
    with pytest.raises(Conflict) as info:
        await env.service.plans.delete(plan.id)
    assert info.value.details["code"] == "in_use"
    with pytest.raises(Conflict):
        await env.service.plans.delete(1)
    with pytest.raises(NotFound):
        await env.service.plans.delete(999)


async def test_plan_limits_changed_by_an_operator_apply_at_the_next_admission(env, user):
    plan = await env.plan(hourly_max_messages=5)
    await env.subscribe(user, plan)
    await env.complete(await env.admit(user), user)
    await env.service.plans.update(b.UpdatePlan(plan_id=plan.id, partial=True, fields={"hourly_max_messages": 1}))
    with pytest.raises(LimitExceeded):
        await env.admit(user)
