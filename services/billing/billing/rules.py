"""Pure accounting rules (business-rules §4–§5): windows, limit order, token and cost arithmetic."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from shared.contracts.billing import Plan
from shared.contracts.plans import PLAN_LIMITS

MIN_REPLY_TOKENS = 16
NANO = Decimal("1000000000")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Redis counts each window in time buckets of 1/60 of its length (business-rules §5 allows at most that):
# a user's state is then at most 61 buckets per window, whatever their usage, and a window counts
# every bucket that overlaps it, so it may hold usage up to one bucket longer than the exact window.
BUCKETS_PER_WINDOW = 60


@dataclass(frozen=True)
class Window:
    name: str
    seconds: int

    @property
    def ms(self) -> int:
        return self.seconds * 1000

    @property
    def bucket_ms(self) -> int:
        return self.ms // BUCKETS_PER_WINDOW


WINDOWS: tuple[Window, ...] = (
    Window("hourly", 3_600),
    Window("three_hours", 3 * 3_600),
    Window("twelve_hours", 12 * 3_600),
    Window("daily", 24 * 3_600),
    Window("weekly", 7 * 24 * 3_600),
    Window("monthly", 30 * 24 * 3_600),
)
MONTH = WINDOWS[-1]


@dataclass(frozen=True)
class LimitSpec:
    """One limit as the limiter sees it. `window` is an index into WINDOWS, None for period totals."""

    name: str
    kind: str  # messages | tokens | cost
    window: int | None
    scope: str = "all"  # all | paid | free | image


# The deny order of business-rules §5: period totals, windows shortest to longest (messages before
# tokens), monthly free-model limits, image limits. The one definition of that order: the limiter
# script is handed it on every call (`limiter_spec`).
LIMITS: tuple[LimitSpec, ...] = (
    LimitSpec("max_tokens", "tokens", None, "paid"),
    LimitSpec("max_tokens_free", "tokens", None, "free"),
    LimitSpec("max_openrouter_cost_usd", "cost", None),
    *(
        LimitSpec(f"{w.name}_{kind}", kind, i)
        for i, w in enumerate(WINDOWS)
        for kind in ("messages", "tokens")
    ),
    LimitSpec("monthly_free_model_messages", "messages", 5, "free"),
    LimitSpec("monthly_free_model_tokens", "tokens", 5, "free"),
    LimitSpec("daily_image_generation", "messages", 3, "image"),
    LimitSpec("weekly_image_generation", "messages", 4, "image"),
    LimitSpec("monthly_image_generation", "messages", 5, "image"),
)
LIMIT_INDEX = {spec.name: i for i, spec in enumerate(LIMITS)}
# The plan carries exactly these limits, in this order (its fields come from that table).
if tuple(LIMIT_INDEX) != tuple(PLAN_LIMITS):
    raise RuntimeError("billing.rules.LIMITS and shared.contracts.plans.PLAN_LIMITS disagree")


def limiter_spec() -> tuple[str, str]:
    """WINDOWS and LIMITS as limiter.lua reads them: "length:bucket,…" in ms, and
    "kind:window:scope,…" in deny order (kind m/t/c, window 1-based, 0 for the period)."""
    windows = ",".join(f"{w.ms}:{w.bucket_ms}" for w in WINDOWS)
    limits = ",".join(
        f"{spec.kind[0]}:{0 if spec.window is None else spec.window + 1}:{spec.scope}" for spec in LIMITS
    )
    return windows, limits


def plan_limits(plan: Plan) -> tuple[int, ...]:
    """The plan's limit values in LIMITS order (cost in nano-USD); 0 means unlimited."""
    values = (getattr(plan, PLAN_LIMITS[spec.name]) for spec in LIMITS)
    return tuple(usd_to_nano(v) if spec.kind == "cost" else v for spec, v in zip(LIMITS, values, strict=True))


def multiplier_fraction(multiplier: Decimal, is_free: bool) -> tuple[int, int]:
    """(numerator, denominator) of the effective-token multiplier; free models count 1:1."""
    if is_free:
        return 1, 1
    exponent = multiplier.normalize().as_tuple().exponent
    if exponent >= 0:
        return int(multiplier), 1
    den = 10 ** (-exponent)
    return int(multiplier * den), den


def effective_tokens(tokens: int, multiplier: Decimal, is_free: bool) -> int:
    """Paid: ceil(tokens × multiplier), exactly; free: tokens (no multiplier)."""
    if is_free:
        return tokens
    return int((Decimal(tokens) * multiplier).to_integral_value(rounding=ROUND_CEILING))


def usd_to_nano(usd: Decimal) -> int:
    """Whole nano-dollars, rounded up so the limiter never counts less than was spent."""
    return int((usd * NANO).to_integral_value(rounding=ROUND_CEILING))


def nano_to_usd(nano: int) -> Decimal:
    return Decimal(nano) / NANO


def usd_text(usd: Decimal) -> str:
    """A money string with at least two decimals and no exponent: "10.00", "0.000123"."""
    cents = usd.quantize(Decimal("0.01"))
    return format(cents if cents == usd else usd.normalize(), "f")


def price_nano_per_token(usd_per_mtok: Decimal | None) -> int | None:
    """USD per million tokens → nano-USD per token, rounded up; None stays unknown."""
    if usd_per_mtok is None:
        return None
    return int((usd_per_mtok * 1000).to_integral_value(rounding=ROUND_CEILING))


def estimated_cost(
    prompt_tokens: int, completion_tokens: int, prompt_price: Decimal | None, completion_price: Decimal | None
) -> Decimal | None:
    """USD from the model's prices per million tokens, when both are known."""
    if prompt_price is None or completion_price is None:
        return None
    return (prompt_tokens * prompt_price + completion_tokens * completion_price) / Decimal(1_000_000)


def with_margin(prompt_tokens: int, margin_percent: int) -> int:
    return math.ceil(prompt_tokens * (100 + margin_percent) / 100) if margin_percent else prompt_tokens


def to_ms(moment: datetime) -> int:
    # exact integer arithmetic: float timestamps can land one millisecond off
    return (moment - EPOCH) // timedelta(milliseconds=1)


def floor_ms(moment: datetime) -> datetime:
    """Timestamps the limiter compares are kept to whole milliseconds, as Redis sees them."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def seconds_ceil(ms: int) -> int:
    return max(1, -(-ms // 1000))


def seconds_until(end: datetime | None, now: datetime) -> int | None:
    """Whole seconds (rounded up) until `end`; None for no end."""
    if end is None:
        return None
    return seconds_ceil((end - now) // timedelta(milliseconds=1))
