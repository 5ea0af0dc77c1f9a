"""Pure accounting rules: exact decimal arithmetic, the limit order, and agreement with the Lua script."""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from billing.limiter import SCRIPT
from billing.plans import PlanFields
from billing.rules import (
    LIMITS,
    WINDOWS,
    effective_tokens,
    floor_ms,
    limiter_spec,
    multiplier_fraction,
    plan_limits,
    price_nano_per_token,
    to_ms,
    usd_text,
    usd_to_nano,
)
from billing.seed import SEED_PLANS

from shared.contracts import billing as b


@pytest.mark.parametrize("tokens,multiplier,free,expected", [
    (10, Decimal("1.10"), False, 11),  # exact: a float would give 11.000000000000002 → 12
    (151, Decimal("1.25"), False, 189),
    (3, Decimal("0.50"), False, 2),
    (100, Decimal("0"), False, 0),
    (100, Decimal("2.50"), True, 100),  # free models: no multiplier
])
def test_effective_tokens(tokens, multiplier, free, expected):
    assert effective_tokens(tokens, multiplier, free) == expected


@pytest.mark.parametrize("multiplier,free,expected", [
    (Decimal("1.50"), False, (15, 10)), (Decimal("100"), False, (100, 1)), (Decimal("0.00"), False, (0, 1)),
    (Decimal("0.05"), False, (5, 100)), (Decimal("3"), True, (1, 1)),
])
def test_multiplier_fraction_is_exact(multiplier, free, expected):
    assert multiplier_fraction(multiplier, free) == expected


def test_money_conversions_round_up_and_print_plainly():
    assert usd_to_nano(Decimal("0.0000000001")) == 1
    assert usd_to_nano(Decimal("10.00")) == 10_000_000_000
    assert price_nano_per_token(Decimal("1.5")) == 1_500 and price_nano_per_token(None) is None
    assert [usd_text(Decimal(x)) for x in ("10", "0.011", "1E+1", "0E-9")] == ["10.00", "0.011", "10.00", "0.00"]


def test_milliseconds_are_exact():
    moment = datetime(2026, 1, 1, 0, 0, 0, 123_999, tzinfo=UTC)
    assert floor_ms(moment).microsecond == 123_000
    assert to_ms(floor_ms(moment)) == 1_767_225_600_123


def test_limits_cover_every_documented_name_in_the_deny_order():
    names = [spec.name for spec in LIMITS]
    assert sorted(names) == sorted(b.LIMIT_NAMES) and len(names) == 20
    assert names[:3] == ["max_tokens", "max_tokens_free", "max_openrouter_cost_usd"]
    windows = [w.name for w in WINDOWS]
    assert names[3:15] == [f"{w}_{k}" for w in windows for k in ("messages", "tokens")]
    assert names[15:] == ["monthly_free_model_messages", "monthly_free_model_tokens", "daily_image_generation",
                          "weekly_image_generation", "monthly_image_generation"]


def test_the_lua_script_is_handed_the_windows_and_the_deny_order():
    """rules.py is their one definition (issue 17): the script keeps no copy of either."""
    assert [w.seconds for w in WINDOWS] == [3_600, 10_800, 43_200, 86_400, 604_800, 2_592_000]
    windows, limits = limiter_spec()
    assert windows.split(",") == [f"{w.ms}:{w.bucket_ms}" for w in WINDOWS]
    assert all(w.bucket_ms * 60 <= w.ms for w in WINDOWS)  # business-rules §5: at most 1/60 of the window
    assert limits.split(",")[:4] == ["t:0:paid", "t:0:free", "c:0:all", "m:1:all"]
    assert len(limits.split(",")) == len(LIMITS)
    assert not re.search(r"\b(3600000|2592000000)\b", SCRIPT)
    assert "'paid'}" not in SCRIPT


def test_plan_limits_follow_the_limit_order():
    free = b.Plan(**SEED_PLANS[0], duration_days=30, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    values = dict(zip((spec.name for spec in LIMITS), plan_limits(free), strict=True))
    assert values["max_tokens"] == 50_000 and values["hourly_messages"] == 2 and values["hourly_tokens"] == 10_000
    assert values["monthly_free_model_tokens"] == 200_000 and values["monthly_image_generation"] == 60
    assert values["max_openrouter_cost_usd"] == 0


def test_plan_fields_are_the_contracts_plan_fields():
    contract = set(b.Plan.model_fields) - {"id", "created_at"}
    assert set(PlanFields.model_fields) == contract
