"""Admission against real Redis: every limit at its edge, 0 = unlimited, the deny order, the reply
cap, cost caps, rate-limit info and reservation expiry."""

import itertools
import uuid
from decimal import Decimal

import pytest
from billing.rules import LIMITS, MIN_REPLY_TOKENS, WINDOWS

from shared.contracts import billing as b
from shared.errors import LimitExceeded, ValidationFailed


async def on_plan(env, user_id, days=0, **limits):
    plan = await env.plan(duration_days=days, **limits)
    await env.subscribe(user_id, plan)
    return plan


async def denied(env, user_id, **kw) -> dict:
    with pytest.raises(LimitExceeded) as info:
        await env.admit(user_id, **kw)
    return info.value.details["limit"]


def bucket_seconds(window) -> int:
    return window.bucket_ms // 1000


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: w.name)
async def test_message_window_denies_at_its_edge_and_slides(env, user, window):
    # START is on a bucket boundary: the exchanges' bucket stops counting one bucket after they leave
    # the exact window (business-rules §5: up to one bucket late, never early)
    late = bucket_seconds(window)
    await on_plan(env, user, **{f"{window.name}_max_messages": 2})
    for _ in range(2):
        await env.complete(await env.admit(user), user)
    env.clock.advance(seconds=10)
    limit = await denied(env, user)
    assert limit == {"name": f"{window.name}_messages", "limit": 2, "used": 2,
                     "retry_after": window.seconds + late - 10}
    env.clock.advance(seconds=window.seconds - 10)  # the exact window has let them go; their bucket not
    assert (await denied(env, user))["retry_after"] == late
    env.clock.advance(seconds=late - 1)  # 1 s before their bucket leaves the window
    assert (await denied(env, user))["retry_after"] == 1
    env.clock.advance(seconds=1)
    await env.admit(user)


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: w.name)
async def test_token_window_caps_the_reply_then_denies(env, user, window):
    await on_plan(env, user, **{f"{window.name}_max_tokens": 1_000})
    first = await env.admit(user, prompt_tokens=100)
    assert first.max_tokens == 900  # what the window still allows after the prompt
    await env.complete(first, user, prompt=100, completion=784)  # 884 used, 116 left
    second = await env.admit(user, prompt_tokens=100)
    assert second.max_tokens == MIN_REPLY_TOKENS
    await env.release(second, user)
    await env.complete(await env.admit(user, prompt_tokens=0), user, prompt=1, completion=0)  # 885 used
    limit = await denied(env, user, prompt_tokens=100)
    # 15 tokens left cannot hold the prompt and a 16-token reply; 1 more token must fall out
    assert limit == {"name": f"{window.name}_tokens", "limit": 1_000, "used": 885,
                     "retry_after": window.seconds + bucket_seconds(window)}


async def test_zero_means_unlimited_everywhere(env, user):
    await on_plan(env, user)
    for _ in range(40):
        admission = await env.admit(user, prompt_tokens=5_000, is_image=True)
        assert admission.max_tokens == 1_024 and admission.rate_limit is None
        await env.complete(admission, user, prompt=5_000, completion=1_024, images=1, cost=Decimal("5"))
    report = await env.usage(user)
    assert len(report) == 20
    assert all(row.limit == 0 and row.remaining is None and row.resets_in is None for row in report.values())
    assert report["hourly_messages"].used == 40


def _field(name: str) -> str:
    if name.endswith("_image_generation"):
        return f"{name}_limit"
    if name.startswith(("max_", "monthly_free_model")):
        return name
    window, kind = name.rsplit("_", 1)
    return f"{window}_max_{kind}"


def _exhausting(spec) -> object:
    return {"messages": 1, "tokens": 200, "cost": Decimal("0.01")}[spec.kind]


PAIRS = [
    (first, second) for first, second in itertools.pairwise(LIMITS)
    if {first.scope, second.scope} != {"paid", "free"}
]


@pytest.mark.parametrize("first,second", PAIRS, ids=[f"{a.name}-before-{b.name}" for a, b in PAIRS])
async def test_deny_order_reports_the_first_failing_limit(env, user, first, second):
    """Two limits exhausted at once: the one earlier in the §5 order is the one reported."""
    await on_plan(env, user, **{_field(first.name): _exhausting(first), _field(second.name): _exhausting(second)})
    free = "free" in (first.scope, second.scope)
    exchange = dict(is_free_model=free, is_image=True, prompt_tokens=100, max_reply_tokens=100,
                    # priced at 0: the reservation holds no cost, only the commit spends the cap
                    prompt_price_usd_per_mtok=Decimal("0"), completion_price_usd_per_mtok=Decimal("0"))
    admission = await env.admit(user, **exchange)
    await env.complete(admission, user, prompt=100, completion=100, images=1, cost=Decimal("0.01"))
    assert (await denied(env, user, **exchange))["name"] == first.name


async def test_the_script_follows_the_deny_order_it_is_handed(env, user):
    """The order lives in rules.py only: the script applies whatever order it is given (issue 17)."""
    from billing.limiter import Denied, ExchangeTerms
    from billing.rules import plan_limits, to_ms

    await on_plan(env, user, hourly_max_messages=1, daily_max_messages=1)
    await env.complete(await env.admit(user), user)
    sub, plan = await env.service.subscriptions.current(user)
    limiter = env.service.limiter
    terms = ExchangeTerms(uuid.uuid4(), to_ms(sub.start_date), False, 1, 1, 10, 100, False, 0, 0)
    now = to_ms(env.clock.now())
    denial = await limiter.admit(user, now, terms, plan_limits(plan))
    assert isinstance(denial, Denied) and LIMITS[denial.index].name == "hourly_messages"
    windows, order = limiter._spec
    limiter._spec = (windows, ",".join(reversed(order.split(","))))  # the same limits, last first
    try:
        denial = await limiter.admit(user, now, terms, tuple(reversed(plan_limits(plan))))
    finally:
        limiter._spec = (windows, order)
    assert isinstance(denial, Denied)
    assert LIMITS[len(LIMITS) - 1 - denial.index].name == "daily_messages"


async def test_reply_cap_converts_through_the_multiplier(env, user):
    await on_plan(env, user, hourly_max_tokens=1_000)
    paid = await env.admit(user, prompt_tokens=100, token_cost_multiplier=Decimal("2.50"))
    assert paid.max_tokens == 300  # ceil((100 + 300) × 2.5) = 1000
    await env.release(paid, user)
    free = await env.admit(user, prompt_tokens=100, token_cost_multiplier=Decimal("2.50"), is_free_model=True)
    assert free.max_tokens == 900  # free models: no multiplier
    await env.release(free, user)
    small = await env.admit(user, prompt_tokens=100, max_reply_tokens=64)
    assert small.max_tokens == 64  # the model's own cap is smaller
    await env.release(small, user)
    odd = await env.admit(user, prompt_tokens=1, token_cost_multiplier=Decimal("1.10"))
    assert odd.max_tokens == 908  # ceil(909 × 1.1) = 1000, ceil(910 × 1.1) = 1001


async def test_too_little_room_for_a_reply_denies(env, user):
    await on_plan(env, user, daily_max_tokens=1_000)
    limit = await denied(env, user, prompt_tokens=1_000 - MIN_REPLY_TOKENS + 1)
    assert limit["name"] == "daily_tokens" and limit["used"] == 0
    assert limit["retry_after"] is None  # the prompt alone never fits: waiting cannot help
    assert (await env.admit(user, prompt_tokens=1_000 - MIN_REPLY_TOKENS)).max_tokens == MIN_REPLY_TOKENS


async def test_zero_multiplier_paid_model_uses_no_token_budget(env, user):
    await on_plan(env, user, hourly_max_tokens=100)
    admission = await env.admit(user, prompt_tokens=5_000, token_cost_multiplier=Decimal("0"))
    assert admission.max_tokens == 1_024
    await env.complete(admission, user, prompt=5_000, completion=1_000)
    assert (await env.usage(user))["hourly_tokens"].used == 0


async def test_known_prices_reserve_the_estimate_and_cap_the_reply(env, user):
    await on_plan(env, user, max_openrouter_cost_usd=Decimal("0.01"))
    prices = dict(prompt_price_usd_per_mtok=Decimal("10"), completion_price_usd_per_mtok=Decimal("20"))
    first = await env.admit(user, prompt_tokens=100, max_reply_tokens=10_000, **prices)
    # $0.01 = 10,000,000 nano-USD; the prompt costs 100 × 10,000; each reply token 20,000
    assert first.max_tokens == 450
    limit = await denied(env, user, prompt_tokens=100, **prices)  # the open reservation holds all of it
    assert limit == {"name": "max_openrouter_cost_usd", "limit": "0.01", "used": "0.01", "retry_after": None}
    await env.complete(first, user, prompt=100, completion=200, cost=Decimal("0.005"))
    assert (await env.admit(user, prompt_tokens=100, **prices)).max_tokens == 200


async def test_unknown_prices_reserve_at_the_unpriced_default(env, user):
    await on_plan(env, user, max_openrouter_cost_usd=Decimal("1"))
    # UNPRICED_MODEL_USD_PER_MTOK (600 by default) = 600,000 nano-USD per prompt and reply token;
    # $1 less the prompt's 100 tokens leaves room for 1,566 reply tokens
    first = await env.admit(user, prompt_tokens=100, max_reply_tokens=10_000)
    assert first.max_tokens == 1_566
    limit = await denied(env, user, prompt_tokens=100)  # the open reservation holds nearly all of it
    assert limit == {"name": "max_openrouter_cost_usd", "limit": "1", "used": "0.9996", "retry_after": None}
    await env.complete(first, user, prompt=100, completion=200, cost=Decimal("0.3"))  # the real cost
    assert (await env.admit(user, prompt_tokens=100, max_reply_tokens=10_000)).max_tokens == 1_066


async def test_image_limits_count_exchanges_that_produced_an_image(env, user):
    await on_plan(env, user, daily_image_generation_limit=1, weekly_image_generation_limit=5)
    await env.complete(await env.admit(user, is_image=True), user, images=0)  # no image: not counted
    await env.complete(await env.admit(user, is_image=True), user, images=2)
    env.clock.advance(hours=1)
    limit = await denied(env, user, is_image=True)
    day = WINDOWS[3]
    assert limit == {"name": "daily_image_generation", "limit": 1, "used": 1,
                     "retry_after": 23 * 3600 + bucket_seconds(day)}
    await env.admit(user)  # text exchanges are not held back by image limits
    env.clock.advance(hours=23, seconds=bucket_seconds(day))
    await env.admit(user, is_image=True)  # the daily window slid past it; counters never stick


@pytest.mark.parametrize("name,seconds", [("daily", 86_400), ("weekly", 7 * 86_400), ("monthly", 30 * 86_400)])
async def test_each_image_window_slides(env, user, name, seconds):
    await on_plan(env, user, **{f"{name}_image_generation_limit": 2})
    for _ in range(2):
        await env.complete(await env.admit(user, is_image=True), user, images=1)
    env.clock.advance(seconds=seconds + seconds // 60 - 1)  # a bucket is 1/60 of the window
    limit = await denied(env, user, is_image=True)
    assert limit == {"name": f"{name}_image_generation", "limit": 2, "used": 2, "retry_after": 1}
    env.clock.advance(seconds=1)
    await env.admit(user, is_image=True)


async def test_monthly_free_model_tokens_cap_free_replies(env, user):
    await on_plan(env, user, monthly_free_model_tokens=500)
    first = await env.admit(user, is_free_model=True, prompt_tokens=100)
    assert first.max_tokens == 400
    await env.complete(first, user, prompt=100, completion=390)
    limit = await denied(env, user, is_free_model=True, prompt_tokens=0)
    assert limit == {"name": "monthly_free_model_tokens", "limit": 500, "used": 490,
                     "retry_after": 30 * 86_400 + bucket_seconds(WINDOWS[5])}
    assert (await env.admit(user, is_free_model=False, prompt_tokens=100)).max_tokens == 1_024


async def test_monthly_free_model_limits_hold_free_models_only(env, user):
    await on_plan(env, user, monthly_free_model_messages=1)
    await env.complete(await env.admit(user, is_free_model=True), user)
    assert (await denied(env, user, is_free_model=True))["name"] == "monthly_free_model_messages"
    await env.admit(user, is_free_model=False)


async def test_period_totals_split_paid_and_free_and_promise_no_retry_time(env, user):
    await on_plan(env, user, days=30, max_tokens=500, max_tokens_free=300)
    await env.complete(await env.admit(user, prompt_tokens=100), user, prompt=100, completion=390)  # 490 paid
    limit = await denied(env, user, prompt_tokens=0)
    # only a new subscription resets a period total: null, not the period's end (api.md §4)
    assert limit == {"name": "max_tokens", "limit": 500, "used": 490, "retry_after": None}
    free = await env.admit(user, prompt_tokens=100, is_free_model=True)
    assert free.max_tokens == 200  # free tokens have their own total


async def test_rate_limit_info_is_the_tightest_message_window(env, user):
    await on_plan(env, user, hourly_max_messages=3, daily_max_messages=10, weekly_max_messages=4)
    first = await env.admit(user)
    assert first.rate_limit == b.RateLimitInfo(limit=3, remaining=2, reset_seconds=3_600)
    await env.complete(first, user)
    env.clock.advance(minutes=10)
    second = await env.admit(user)  # the first one counts in its minute's bucket now
    assert second.rate_limit == b.RateLimitInfo(limit=3, remaining=1, reset_seconds=3_000 + 60)
    await env.complete(second, user)
    env.clock.advance(hours=1, minutes=1)  # the hourly window is empty again; weekly is now the tightest
    third = await env.admit(user)
    # the earlier two count in the week's first bucket, which leaves 10,080 s after the week has
    # passed; this send's own reservation (counted exactly) leaves first
    assert third.rate_limit == b.RateLimitInfo(limit=4, remaining=1, reset_seconds=7 * 86_400)


async def test_admitting_the_same_exchange_twice_reserves_once(env, user):
    await on_plan(env, user, hourly_max_messages=5)
    request = env.request(user)
    first = await env.service.admit(request)
    again = await env.service.admit(request)
    assert again.max_tokens == first.max_tokens
    assert (await env.usage(user))["hourly_messages"].used == 1


async def test_abandoned_reservations_release_themselves(env, user):
    await on_plan(env, user, hourly_max_messages=1)
    await env.admit(user)
    assert (await denied(env, user))["name"] == "hourly_messages"
    env.clock.advance(seconds=900)  # RESERVATION_TTL_SECONDS
    assert (await env.usage(user))["hourly_messages"].used == 0
    await env.admit(user)


async def test_usage_report_shows_remaining_and_resets(env, user):
    await on_plan(env, user, days=30, hourly_max_messages=5, max_tokens=1_000)
    await env.complete(await env.admit(user, prompt_tokens=10), user, prompt=10, completion=90)
    env.clock.advance(minutes=15)
    report = await env.usage(user)
    assert report["hourly_messages"] == b.LimitStatus(
        name="hourly_messages", limit=5, used=1, remaining=4, resets_in=2_700 + 60
    )
    assert report["max_tokens"] == b.LimitStatus(
        name="max_tokens", limit=1_000, used=100, remaining=900, resets_in=30 * 86_400 - 900
    )
    assert report["daily_messages"].resets_in is None  # 0 = unlimited


@pytest.mark.parametrize("field,value", [
    ("prompt_tokens", -1), ("max_reply_tokens", 0), ("token_cost_multiplier", Decimal("-1")),
    ("token_cost_multiplier", Decimal("1.00001")), ("token_cost_multiplier", Decimal("10000.01")),
    ("prompt_price_usd_per_mtok", Decimal("1e9")),
])
async def test_nonsense_requests_are_refused(env, user, field, value):
    with pytest.raises(ValidationFailed) as info:
        await env.admit(user, **{field: value})
    assert field in info.value.details["fields"]


async def test_prompt_margin_is_reserved(tmp_path, redis_url, user):
    from tests.billing.conftest import build_env, close_env

    env = await build_env(f"sqlite+aiosqlite:///{tmp_path}/margin.db", redis_url, margin=10)
    try:
        await on_plan(env, user, hourly_max_tokens=1_000)
        assert (await env.admit(user, prompt_tokens=100)).max_tokens == 890
    finally:
        await close_env(env)


async def test_every_exchange_id_is_its_own_reservation(env, user):
    await on_plan(env, user, hourly_max_messages=2)
    await env.admit(user, exchange_id=uuid.uuid4())
    await env.admit(user, exchange_id=uuid.uuid4())
    assert (await denied(env, user))["used"] == 2
