"""The plan's limits, written once: which limits a plan carries, in the deny order of business-rules
§5, and the plan field that holds each (0: unlimited).

Every model of a plan takes its limit fields from here, each with its own bounds: the wire contract
(`shared.contracts.billing.Plan`, the public shape), billing's validation (`billing.plans.PlanFields`,
the base with defaults) and table (`billing.models.Plan`), and the admin bodies the gateway validates
and the admin contracts carry (`shared.contracts.admin_fields`: PUT, create, update). Billing's rule
table (`billing.rules.LIMITS`) lists the same limits in the same order, which it checks at import.
"""

from decimal import Decimal
from typing import Any

WINDOW_FIELDS = ("hourly", "three_hours", "twelve_hours", "daily", "weekly", "monthly")

# Limit name (business-rules §5, api.md §4) -> the plan field that holds it, in deny order.
PLAN_LIMITS: dict[str, str] = {
    "max_tokens": "max_tokens",
    "max_tokens_free": "max_tokens_free",
    "max_openrouter_cost_usd": "max_openrouter_cost_usd",
    **{f"{w}_{kind}": f"{w}_max_{kind}" for w in WINDOW_FIELDS for kind in ("messages", "tokens")},
    "monthly_free_model_messages": "monthly_free_model_messages",
    "monthly_free_model_tokens": "monthly_free_model_tokens",
    **{f"{period}_image_generation": f"{period}_image_generation_limit" for period in ("daily", "weekly", "monthly")},
}
LIMIT_FIELDS: tuple[str, ...] = tuple(PLAN_LIMITS.values())
# In USD; every other limit is a count (messages, tokens or images).
COST_FIELDS = frozenset({"max_openrouter_cost_usd"})


def limit_fields(count: Any, cost: Any, *, required: bool = False) -> dict[str, tuple[Any, Any]]:
    """The limit fields for `pydantic.create_model`, in order: typed `count` or `cost` (each model its
    own bounds and strictness), 0 (unlimited) by default unless `required`."""
    return {
        name: (cost, ... if required else Decimal(0)) if name in COST_FIELDS else (count, ... if required else 0)
        for name in LIMIT_FIELDS
    }
