"""The starter plans of business-rules §7, created on first start with fixed ids (chat links
models and chatbots to 1 = Free, 2 = Basic, 3 = Premium)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from billing import repository as repo
from billing.models import Plan

_WINDOW_FIELDS = ("hourly", "three_hours", "twelve_hours", "daily", "weekly", "monthly")


def _windows(*pairs: tuple[int, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, (messages, tokens) in zip(_WINDOW_FIELDS, pairs, strict=True):
        out[f"{name}_max_messages"], out[f"{name}_max_tokens"] = messages, tokens
    return out


SEED_PLANS: tuple[dict, ...] = (
    dict(
        id=1, name="Free", sku="FREE_SUB_30D", price=Decimal("0"),
        description="Try MobixAI: free models and a taste of the rest.",
        max_tokens=50_000, max_tokens_free=50_000,
        **_windows((2, 10_000), (5, 25_000), (10, 50_000), (30, 100_000), (150, 500_000), (500, 1_000_000)),
        monthly_free_model_messages=100, monthly_free_model_tokens=200_000,
        daily_image_generation_limit=3, weekly_image_generation_limit=15, monthly_image_generation_limit=60,
    ),
    dict(
        id=2, name="Basic", sku="BASIC_SUB_30D", price=Decimal("70000"),
        description="Everyday use of the popular paid models and image generation.",
        max_tokens=300_000, max_tokens_free=0,
        **_windows((5, 30_000), (15, 90_000), (30, 180_000), (120, 400_000), (600, 2_000_000), (2_000, 8_000_000)),
        monthly_free_model_messages=500, monthly_free_model_tokens=2_000_000,
        daily_image_generation_limit=10, weekly_image_generation_limit=50, monthly_image_generation_limit=200,
    ),
    dict(
        id=3, name="Premium", sku="PREMIUM_SUB_30D", price=Decimal("200000"),
        description="Every model, with the highest limits.",
        max_tokens=0, max_tokens_free=0,
        **_windows(
            (20, 200_000), (60, 600_000), (150, 1_500_000), (500, 5_000_000), (2_000, 20_000_000), (6_000, 100_000_000)
        ),
        monthly_free_model_messages=2_000, monthly_free_model_tokens=10_000_000,
        daily_image_generation_limit=30, weekly_image_generation_limit=150, monthly_image_generation_limit=600,
    ),
)


async def seed_plans(s: AsyncSession, now: datetime, currency: str = "IRT") -> bool:
    """Create the starter plans when there are none yet; True when it did."""
    if await repo.count_plans(s):
        return False
    for fields in SEED_PLANS:
        s.add(Plan(duration_days=30, max_openrouter_cost_usd=Decimal("0"), is_active=True, created_at=now,
                   currency=currency, **fields))
    await s.flush()
    if s.bind.dialect.name == "postgresql":
        # explicit ids leave the sequence behind: the next plan an operator creates must get id 4
        await s.exec(text("SELECT setval(pg_get_serial_sequence('plan', 'id'), (SELECT max(id) FROM plan))"))
    return True
