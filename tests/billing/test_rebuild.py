"""The ledger is the source of truth: Redis losing the windows, a commit that cannot reach Redis,
a change racing a rebuild, and Redis being down (fail closed)."""

import uuid
from decimal import Decimal

import pytest
from billing.limiter import Snapshot, UsageLimiter
from billing.models import Subscription, UsageLedger
from billing.rules import to_ms
from sqlmodel import select

from shared.cache import make_redis
from shared.contracts import billing as b
from shared.errors import LimitExceeded, Unavailable


async def test_windows_are_rebuilt_from_the_ledger_after_redis_loses_them(env, user):
    await env.subscribe(user, await env.plan(duration_days=30, hourly_max_messages=4, max_tokens=100_000,
                                             daily_image_generation_limit=3))
    for minutes in (0, 20, 40):
        admission = await env.admit(user, prompt_tokens=100, is_image=True)
        await env.complete(admission, user, prompt=100, completion=50 + minutes, images=1, cost=Decimal("0.001"))
        env.clock.advance(minutes=10)
    open_one = await env.admit(user)  # still in flight when Redis is lost
    before = await env.usage(user)
    assert await env.flush() > 0
    after = await env.usage(user)
    assert after == before
    assert after["hourly_messages"].used == 4 and after["daily_image_generation"].used == 3
    with pytest.raises(LimitExceeded):  # the open reservation still holds its place
        await env.admit(user)
    await env.flush()
    await env.complete(open_one, user, prompt=100, completion=10)  # commit with no state: ledger only
    report = await env.usage(user)
    assert report["hourly_messages"].used == 4 and report["max_tokens"].used == before["max_tokens"].used - 1_124 + 110


async def test_period_totals_survive_a_rebuild_beyond_the_longest_window(env, user):
    # the default plan's period is open-ended: its totals reach back further than 30 days
    await env.complete(await env.admit(user, prompt_tokens=100), user, prompt=100, completion=900)
    env.clock.advance(days=45)
    await env.flush()
    report = await env.usage(user)
    assert report["max_tokens"].used == 1_000 and report["monthly_tokens"].used == 0


async def test_a_commit_that_cannot_reach_redis_is_replayed_from_the_ledger(env, user, monkeypatch):
    admission = await env.admit(user)

    async def redis_down(*args, **kwargs):
        raise Unavailable("usage limiter (Redis) unavailable")

    monkeypatch.setattr(env.service.limiter, "commit", redis_down)
    await env.complete(admission, user, prompt=100, completion=20)
    monkeypatch.undo()
    async with env.factory() as s:
        assert len((await s.exec(select(UsageLedger).where(UsageLedger.user_id == user))).all()) == 1
        [sub] = (await s.exec(select(Subscription).where(Subscription.user_id == user))).all()
        assert sub.windows_stale_at is not None
    report = await env.usage(user)  # rebuilt: the reservation became the committed 120 tokens
    assert report["hourly_tokens"].used == 120 and report["hourly_messages"].used == 1
    async with env.factory() as s:
        [sub] = (await s.exec(select(Subscription).where(Subscription.user_id == user))).all()
        assert sub.windows_stale_at is None


async def test_a_change_during_a_rebuild_makes_it_read_the_ledger_again(env, user):
    admission = await env.admit(user)
    limiter = env.service.limiter
    await env.flush()
    assert await limiter.begin_rebuild(user, "me", force=False)
    now = to_ms(env.clock.now())
    await env.complete(admission, user)  # lands while the ledger is being read: marks the state dirty
    assert not await limiter.load(user, now, "me", Snapshot(period_start_ms=0))
    await limiter.end_rebuild(user, "me")
    assert (await env.usage(user))["hourly_tokens"].used == 150  # the retried rebuild saw the commit


async def test_redis_down_fails_closed(env, user):
    held = await env.admit(user)
    limiter = env.service.limiter
    dead = make_redis("redis://127.0.0.1:1/0", timeout=0.5)
    limiter.__init__(dead, reservation_ttl_seconds=900, min_reply_tokens=16, prefix=env.prefix)
    try:
        with pytest.raises(Unavailable):
            await env.admit(user)
        with pytest.raises(Unavailable):
            await env.usage(user)
        await env.release(held, user)  # the ledger records it; the windows are marked for a rebuild
    finally:
        limiter.__init__(env.redis, reservation_ttl_seconds=900, min_reply_tokens=16, prefix=env.prefix)
        await dead.aclose()
    assert (await env.usage(user))["hourly_messages"].used == 0


async def test_a_limiter_without_redis_reports_unavailable():
    dead = make_redis("redis://127.0.0.1:1/0", timeout=0.5)
    limiter = UsageLimiter(dead, reservation_ttl_seconds=900, min_reply_tokens=16, prefix="nowhere")
    try:
        with pytest.raises(Unavailable):
            await limiter.ping()
    finally:
        await dead.aclose()


async def test_concurrent_rebuilds_of_one_user_agree(env, user):
    import asyncio

    await env.subscribe(user, await env.plan(duration_days=0, hourly_max_messages=20))
    for _ in range(5):
        await env.complete(await env.admit(user), user)
    await env.flush()
    reports = await asyncio.gather(*(env.service.usage(b.UserQuery(user_id=user)) for _ in range(20)))
    assert {r.limits[0].used for r in reports} == {5}


async def test_a_state_lost_key_by_key_is_rebuilt_not_trusted(env, user):
    """An evicting Redis may drop the state but keep its marker: that is rebuilt too."""
    await env.complete(await env.admit(user), user)
    marker, *_rest = env.service.limiter.keys(user)
    await env.redis.delete(env.service.limiter.keys(user)[3])  # the window totals only
    assert await env.redis.exists(marker)
    assert (await env.usage(user))["hourly_messages"].used == 1


async def test_a_forced_rebuild_keeps_reservations_not_yet_in_the_ledger(env, user):
    from billing import repository as repo
    from billing.limiter import ExchangeTerms
    from billing.rules import plan_limits

    sub, plan = await env.service.subscriptions.current(user)
    released = await env.admit(user)  # SQL and Redis
    # an admission whose row has not reached the ledger yet: Redis only
    in_flight = ExchangeTerms(uuid.uuid4(), to_ms(sub.start_date), False, 1, 1, 10, 100, False, None, None)
    await env.service.limiter.admit(user, to_ms(env.clock.now()), in_flight, plan_limits(plan))
    await env.service.batcher.run(lambda conn: repo.release_reservation(conn, released.exchange_id, user, "released",
                                                                           env.clock.now()))
    await env.service.windows.rebuild(user, sub, force=True)
    report = await env.usage(user)
    assert report["hourly_messages"].used == 1  # the in-flight one; the released one is gone
    assert report["hourly_tokens"].used == 110


async def _limiter_state(env, user) -> dict:
    """Every key of the user's limiter state but the marker (an epoch that changes on each rebuild)."""
    limiter = env.service.limiter
    state = {}
    for key in limiter.keys(user)[1:]:
        kind = await env.redis.type(key)
        if kind == "hash":
            state[key] = await env.redis.hgetall(key)
    return state


async def test_a_lost_redis_is_rebuilt_into_the_same_buckets(env, user):
    """After Redis loses everything, the ledger is summed into the very buckets the commits built,
    including a bucket whose exchanges the exact window has already let go."""
    await env.subscribe(user, await env.plan(duration_days=0, hourly_max_messages=10, hourly_max_tokens=10_000,
                                             monthly_free_model_messages=50, daily_image_generation_limit=9))
    # admitted at 0:00:10, 0:00:50, 0:04:10, 0:21:40, 0:41:40, 0:58:20
    for step, seconds in enumerate((10, 40, 200, 1_050, 1_200, 1_000)):
        env.clock.advance(seconds=seconds)
        admission = await env.admit(user, is_free_model=step % 2 == 0, is_image=True)
        await env.complete(admission, user, prompt=100, completion=10 * step, images=step % 3)
    env.clock.advance(seconds=140)  # 1:00:40: the first has left the exact hour, not its minute's bucket
    open_one = await env.admit(user)
    before_usage = await env.usage(user)
    before = await _limiter_state(env, user)
    assert before_usage["hourly_messages"].used == 7  # the bucketed hour still counts the first
    assert len(before[env.service.limiter.keys(user)[4]]) == 5  # five minute-buckets of the hour
    assert await env.flush() > 0
    after_usage = await env.usage(user)
    assert await _limiter_state(env, user) == before
    assert after_usage == before_usage
    await env.complete(open_one, user, prompt=100, completion=1)
    assert (await env.usage(user))["hourly_messages"].used == 7


async def test_a_completion_redelivered_after_redis_forgot_it_counts_once(env, user):
    """Buckets keep no exchange ids: a commit is remembered for the reservation's time limit. A
    redelivery after that cannot tell whether it was counted, so the ledger decides (a rebuild)."""
    event = await env.complete(await env.admit(user), user)
    await env.service.on_reply_completed(event)  # redelivered at once: the commit's mark answers
    assert (await env.usage(user))["hourly_messages"].used == 1
    env.clock.advance(seconds=901)  # past RESERVATION_TTL_SECONDS: the mark is gone
    assert (await env.usage(user))["hourly_messages"].used == 1
    assert await env.redis.hlen(env.service.limiter.keys(user)[2]) == 0
    await env.service.on_reply_completed(event)
    async with env.factory() as s:
        [sub] = (await s.exec(select(Subscription).where(Subscription.user_id == user))).all()
        assert sub.windows_stale_at is not None
    assert (await env.usage(user))["hourly_messages"].used == 1
