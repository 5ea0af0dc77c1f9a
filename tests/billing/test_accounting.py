"""What an exchange costs (business-rules §4): the ledger, per-session usage, duplicates, failures,
stopped replies and titles."""

import uuid
from decimal import Decimal

from billing.models import Reservation, UsageLedger
from sqlmodel import select

from shared.contracts import billing as b
from shared.contracts.llm import ReplyFailed, TitleGenerated, Usage


async def ledger(env, user_id):
    async with env.factory() as s:
        return list((await s.exec(select(UsageLedger).where(UsageLedger.user_id == user_id))).all())


async def test_paid_exchange_costs_ceil_of_tokens_times_multiplier(env, user):
    admission = await env.admit(user, token_cost_multiplier=Decimal("1.25"), session_id=7)
    await env.complete(admission, user, prompt=101, completion=50, cost=Decimal("0.000123"), session_id=7)
    [row] = await ledger(env, user)
    assert (row.kind, row.tokens, row.effective_tokens) == ("exchange", 151, 189)  # ceil(151 × 1.25)
    assert row.cost_usd == Decimal("0.000123") and row.cost_nano == 123_000
    assert row.session_id == 7 and not row.is_free_model and row.exchange_id == admission.exchange_id
    [usage] = await env.service.session_usages(b.UserQuery(user_id=user))
    assert (usage.session_id, usage.tokens_count, usage.free_model_tokens_count) == (7, 189, 0)
    assert usage.cost_usd == Decimal("0.000123") and usage.is_free_model is False
    report = await env.usage(user)
    assert report["hourly_tokens"].used == 189 and report["max_tokens"].used == 189


async def test_free_exchange_ignores_the_multiplier(env, user):
    admission = await env.admit(user, is_free_model=True, token_cost_multiplier=Decimal("0.50"))
    await env.complete(admission, user, prompt=100, completion=51)
    [row] = await ledger(env, user)
    assert row.effective_tokens == 151 and row.is_free_model
    [usage] = await env.service.session_usages(b.UserQuery(user_id=user))
    assert (usage.tokens_count, usage.free_model_tokens_count, usage.is_free_model) == (0, 151, True)
    report = await env.usage(user)
    assert report["max_tokens_free"].used == 151 and report["max_tokens"].used == 0
    assert report["monthly_free_model_tokens"].used == 151 and report["monthly_free_model_messages"].used == 1


async def test_a_completion_delivered_twice_is_billed_once(env, user):
    admission = await env.admit(user)
    event = await env.complete(admission, user, prompt=100, completion=100, cost=Decimal("0.01"))
    await env.service.on_reply_completed(event)
    await env.service.on_reply_completed(event.model_copy(update={"message_id": uuid.uuid4()}))
    assert len(await ledger(env, user)) == 1
    [usage] = await env.service.session_usages(b.UserQuery(user_id=user))
    assert usage.tokens_count == 200 and usage.cost_usd == Decimal("0.01")
    report = await env.usage(user)
    assert report["hourly_messages"].used == 1 and report["hourly_tokens"].used == 200


async def test_a_failed_reply_costs_nothing_and_frees_its_reservation(env, user):
    admission = await env.admit(user)
    assert (await env.usage(user))["hourly_messages"].used == 1
    failed = ReplyFailed(exchange_id=admission.exchange_id, session_id=1, user_id=user, error="boom")
    await env.service.on_reply_failed(failed)
    await env.service.on_reply_failed(failed)
    assert await ledger(env, user) == []
    assert (await env.usage(user))["hourly_messages"].used == 0
    async with env.factory() as s:
        assert (await s.get(Reservation, admission.exchange_id)).status == "released"


async def test_a_stopped_reply_costs_what_was_generated(env, user):
    admission = await env.admit(user)
    await env.complete(admission, user, prompt=100, completion=7, stopped=True)
    [row] = await ledger(env, user)
    assert row.stopped and row.tokens == 107


async def test_a_reply_completed_after_its_release_is_still_billed(env, user):
    admission = await env.admit(user)
    await env.release(admission, user)
    await env.complete(admission, user, prompt=10, completion=10)
    assert len(await ledger(env, user)) == 1
    assert (await env.usage(user))["hourly_tokens"].used == 20


async def test_release_after_commit_changes_nothing(env, user):
    admission = await env.admit(user)
    await env.complete(admission, user, prompt=10, completion=10)
    await env.release(admission, user)
    assert (await env.usage(user))["hourly_messages"].used == 1


async def test_another_users_release_is_ignored(env, user):
    admission = await env.admit(user)
    await env.release(admission, user + 1)
    assert (await env.usage(user))["hourly_messages"].used == 1


async def test_completion_for_an_unknown_exchange_is_ignored(env, user):
    await env.complete(uuid.uuid4(), user)
    assert await ledger(env, user) == []


async def test_cost_falls_back_to_the_models_prices_then_to_zero(env, user):
    priced = await env.admit(user, prompt_price_usd_per_mtok=Decimal("2"), completion_price_usd_per_mtok=Decimal("6"))
    await env.complete(priced, user, prompt=1_000, completion=500, cost=None)
    unpriced = await env.admit(user)
    await env.complete(unpriced, user, prompt=1_000, completion=500, cost=None)
    costs = {row.exchange_id: row.cost_usd for row in await ledger(env, user)}
    assert costs == {priced.exchange_id: Decimal("0.005"), unpriced.exchange_id: Decimal("0")}


async def test_titles_are_billed_but_limit_nothing(env, user):
    plan = await env.plan(duration_days=0, hourly_max_messages=1, hourly_max_tokens=1_000)
    await env.subscribe(user, plan)
    title = TitleGenerated(session_id=3, user_id=user, command_id=uuid.uuid4(), model="test/title", title="Hi",
                           usage=Usage(prompt_tokens=800, completion_tokens=300, cost_usd=Decimal("0.0002")))
    await env.service.on_title_generated(title)
    await env.service.on_title_generated(title)
    [row] = await ledger(env, user)
    assert (row.kind, row.tokens, row.cost_usd, row.session_id) == ("title", 1_100, Decimal("0.0002"), 3)
    await env.service.on_title_generated(title.model_copy(update={"command_id": uuid.uuid4(), "usage": None}))
    assert len(await ledger(env, user)) == 1  # a failed title has no usage to record
    report = await env.usage(user)
    assert report["hourly_tokens"].used == 0 and report["hourly_messages"].used == 0
    await env.admit(user)
    assert await env.service.session_usages(b.UserQuery(user_id=user)) == []


async def test_session_usages_list_newest_updated_first(env, user):
    await env.subscribe(user, await env.plan(duration_days=0))
    for session_id in (1, 2, 1):
        admission = await env.admit(user, session_id=session_id)
        env.clock.advance(seconds=5)
        await env.complete(admission, user, session_id=session_id, prompt=10, completion=5)
    rows = await env.service.session_usages(b.UserQuery(user_id=user))
    assert [r.session_id for r in rows] == [1, 2]
    assert rows[0].tokens_count == 30 and rows[0].updated_at > rows[1].updated_at > rows[0].created_at
