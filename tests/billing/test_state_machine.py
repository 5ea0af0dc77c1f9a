"""Stateful property test: the real billing service (SQLite ledger + Redis Lua limiter) against the
naive model of tests/billing/model.py, through admissions, commits, duplicate deliveries, releases,
reservation expiry, new periods and Redis losing everything. The service must answer exactly what the
model's bucketed windows answer, and those must never admit more than exact sliding windows would,
never free earlier, and free at most one bucket later (business-rules §5)."""

import asyncio
import itertools
from decimal import Decimal

import pytest
from billing.rules import (
    LIMITS,
    WINDOWS,
    effective_tokens,
    multiplier_fraction,
    nano_to_usd,
    plan_limits,
    price_nano_per_token,
    seconds_ceil,
    to_ms,
    usd_text,
    usd_to_nano,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from shared.contracts import billing as b
from shared.errors import LimitExceeded
from tests.billing.conftest import build_env, close_env
from tests.billing.model import Model, Terms

TTL_SECONDS = 900
USERS = itertools.count(10_000)


def _field(k: int) -> str:
    spec = LIMITS[k]
    if spec.window is None:
        return spec.name
    if spec.name.endswith("_image_generation"):
        return f"{spec.name}_limit"
    if spec.name.startswith("monthly_free_model"):
        return spec.name
    window, kind = spec.name.rsplit("_", 1)
    return f"{window}_max_{kind}"


def _values(k: int):
    kind = LIMITS[k].kind
    if kind == "messages":
        return st.sampled_from([0, 0, 1, 2, 3, 5])
    if kind == "tokens":
        return st.sampled_from([0, 0, 100, 300, 1_000, 5_000])
    return st.sampled_from([Decimal("0"), Decimal("0.01"), Decimal("0.05")])


PLANS = st.fixed_dictionaries({_field(k): _values(k) for k in range(len(LIMITS))})
MULTIPLIERS = st.sampled_from([Decimal("0"), Decimal("0.5"), Decimal("1"), Decimal("1.25"), Decimal("2.5")])
PRICES = st.sampled_from([None, Decimal("0"), Decimal("1.5"), Decimal("10")])
STEPS = st.sampled_from([1, 30, 600, TTL_SECONDS + 1, 3_600, 3 * 3_600, 86_400, 7 * 86_400, 30 * 86_400])


class BillingMachine(RuleBasedStateMachine):
    env = None  # set by the test: the service, its clock, and an event loop to run it on
    loop: asyncio.AbstractEventLoop

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    @initialize(plan=PLANS)
    def setup(self, plan):
        self.user = next(USERS)
        self.plan = self.run(self.env.plan(duration_days=0, **plan))  # duration 0: the period never ends
        sub = self.run(self.env.subscribe(self.user, self.plan))
        self.limits = plan_limits(self.plan)
        self.model = Model(self.limits, to_ms(sub.start_date), TTL_SECONDS * 1000)
        self.open: dict[str, tuple[b.AdmitExchange, int, int]] = {}  # id -> (request, admitted ms, cap)
        self.billed: list = []

    def now(self) -> int:
        return to_ms(self.env.clock.now())

    @rule(free=st.booleans(), image=st.booleans(), prompt=st.integers(0, 400), model_max=st.integers(1, 600),
          multiplier=MULTIPLIERS, prompt_price=PRICES, completion_price=PRICES)
    def admit(self, free, image, prompt, model_max, multiplier, prompt_price, completion_price):
        request = self.env.request(
            self.user, is_free_model=free, is_image=image, prompt_tokens=prompt, max_reply_tokens=model_max,
            token_cost_multiplier=multiplier, prompt_price_usd_per_mtok=prompt_price,
            completion_price_usd_per_mtok=completion_price,
        )
        num, den = multiplier_fraction(multiplier, free)
        # an unknown price is reserved at UNPRICED_MODEL_USD_PER_MTOK, as billing does
        unpriced = self.env.service.admissions.unpriced
        prompt_price = unpriced if prompt_price is None else prompt_price
        completion_price = unpriced if completion_price is None else completion_price
        terms = Terms(free, num, den, prompt, model_max, image,
                      price_nano_per_token(prompt_price), price_nano_per_token(completion_price))
        now = self.now()
        exact = self.model.decide(now, terms, exact=True)
        expected = self.model.admit(now, str(request.exchange_id), terms)
        self.bucketed_within_exact(now, terms, expected, exact)
        try:
            admission = self.run(self.env.service.admit(request))
        except LimitExceeded as exc:
            got = exc.details["limit"]
            assert expected[0] == "deny", f"denied {got}, model admits with cap {expected[1]}"
            _, k, limit, used, retry = expected
            assert got["name"] == LIMITS[k].name
            if LIMITS[k].kind == "cost":
                assert got["used"] == usd_text(nano_to_usd(used))
            else:
                assert (got["limit"], got["used"]) == (limit, used)
            assert got["retry_after"] == (None if retry in (None, "period") else seconds_ceil(retry))
            return
        assert expected[0] == "ok", f"admitted, model denies with {LIMITS[expected[1]].name}: {expected}"
        assert admission.max_tokens == expected[1]
        rate = expected[2]
        if rate is None:
            assert admission.rate_limit is None
        else:
            got = admission.rate_limit
            assert (got.limit, got.remaining, got.reset_seconds) == (rate[0], rate[1], seconds_ceil(rate[2]))
        self.open[str(request.exchange_id)] = (request, now, admission.max_tokens)

    def bucketed_within_exact(self, now, terms, bucketed, exact):
        """The bucketed answer against the exact sliding windows' answer to the same admission."""
        if bucketed[0] == "ok":
            assert exact[0] == "ok", f"buckets admit where exact windows deny ({LIMITS[exact[1]].name})"
            assert bucketed[1] <= exact[1], "buckets allow a longer reply than the exact windows"
            return
        _, k, limit, _, retry = bucketed
        if exact[0] == "deny" and exact[1] < k:
            raise AssertionError(f"exact windows deny earlier, with {LIMITS[exact[1]].name}")
        if LIMITS[k].window is None:
            return
        used_exact = self.model.used(k, now, exact=True)
        exact_retry = self.model.retry(k, limit, used_exact, now, terms, exact=True)
        if retry is None:
            assert exact_retry is None, f"{LIMITS[k].name}: buckets say never, exact windows {exact_retry} ms"
            return
        assert exact_retry is not None, f"{LIMITS[k].name}: exact windows say never, buckets {retry} ms"
        bucket = WINDOWS[LIMITS[k].window].bucket_ms
        # never earlier than the exact windows free it, at most one bucket later
        assert exact_retry <= retry <= exact_retry + bucket, (LIMITS[k].name, exact_retry, retry)

    def _live(self) -> list[str]:
        now = self.now()
        return sorted(k for k, (_, at, _) in self.open.items() if at + TTL_SECONDS * 1000 > now)

    @precondition(lambda self: self._live())
    @rule(data=st.data(), produced_image=st.booleans())
    def complete(self, data, produced_image):
        exchange_id = data.draw(st.sampled_from(self._live()))
        request, admitted, cap = self.open.pop(exchange_id)
        completion = data.draw(st.integers(0, cap))
        tokens = request.prompt_tokens + completion
        eff = effective_tokens(tokens, request.token_cost_multiplier, request.is_free_model)
        known = request.prompt_price_usd_per_mtok is not None and request.completion_price_usd_per_mtok is not None
        if known:  # what the model's prices say it costs: never above what was reserved
            nano = (request.prompt_tokens * price_nano_per_token(request.prompt_price_usd_per_mtok)
                    + completion * price_nano_per_token(request.completion_price_usd_per_mtok))
        else:
            nano = data.draw(st.integers(0, 20_000_000))
        cost = nano_to_usd(nano)
        image = produced_image and request.is_image
        event = self.env.completed(request.exchange_id, self.user, prompt=request.prompt_tokens,
                                   completion=completion, cost=cost, images=1 if image else 0)
        self.run(self.env.service.on_reply_completed(event))
        self.model.commit(exchange_id, admitted, eff, request.is_free_model, image, usd_to_nano(cost))
        self.billed.append(event)

    @precondition(lambda self: self.billed)
    @rule(data=st.data())
    def complete_again(self, data):
        """A redelivered completion is billed once."""
        self.run(self.env.service.on_reply_completed(data.draw(st.sampled_from(self.billed))))

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def release(self, data):
        exchange_id = data.draw(st.sampled_from(sorted(self.open)))
        request, _, _ = self.open.pop(exchange_id)
        self.run(self.env.service.release(request.exchange_id, self.user))
        self.model.release(exchange_id)

    @rule(seconds=STEPS)
    def wait(self, seconds):
        self.env.clock.advance(seconds=seconds)

    @rule()
    def redis_loses_everything(self):
        self.run(self.env.flush())

    @rule()
    def new_period(self):
        sub = self.run(self.env.subscribe(self.user, self.plan))
        self.model.period_start = to_ms(sub.start_date)

    @invariant()
    def committed_usage_never_exceeds_a_limit(self):
        if not hasattr(self, "model"):
            return
        now = self.now()
        for k, limit in enumerate(self.limits):
            if limit and LIMITS[k].kind != "cost":  # an unknown price admits while used < cap
                assert self.model.committed_used(k, now) <= limit, LIMITS[k].name

    @invariant()
    def usage_report_matches_the_model(self):
        if not hasattr(self, "model"):
            return
        now = self.now()
        self.model.expire(now)
        report = self.run(self.env.usage(self.user))
        for k, spec in enumerate(LIMITS):
            row = report[spec.name]
            expected = self.model.used(k, now)
            if spec.kind == "cost":
                expected = Decimal(usd_text(nano_to_usd(expected)))
            assert row.used == expected, (spec.name, row.used, expected)
            if self.limits[k] and spec.window is not None:
                items = self.model._by_freeing(k, now, False)
                resets = seconds_ceil(items[0][0] - now) if expected else 0
                assert row.resets_in == resets, spec.name
            if spec.window is not None and spec.kind != "cost":  # buckets never count less
                assert row.used >= self.model.used(k, now, exact=True), spec.name


@pytest.fixture
def machine_env(tmp_path, redis_url):
    loop = asyncio.new_event_loop()
    env = loop.run_until_complete(
        build_env(f"sqlite+aiosqlite:///{tmp_path}/machine.db", redis_url, ttl=TTL_SECONDS)
    )
    yield env, loop
    loop.run_until_complete(close_env(env))
    loop.close()


def test_service_agrees_with_the_model_of_the_rules(machine_env):
    env, loop = machine_env
    BillingMachine.env, BillingMachine.loop = env, loop
    run_state_machine_as_test(
        BillingMachine,
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]),
    )
