"""The user, their subscription and their usage (api.md §3.1, §3.2, §3.6, §5)."""

import time
from decimal import Decimal

from shared.contracts.billing import LIMIT_NAMES
from tests.api.harness import create_session, exchange

PLAN_FIELDS = {
    "id", "name", "description", "price", "duration_days", "sku", "max_tokens", "max_tokens_free",
    "max_openrouter_cost_usd", "hourly_max_messages", "hourly_max_tokens", "three_hours_max_messages",
    "three_hours_max_tokens", "twelve_hours_max_messages", "twelve_hours_max_tokens", "daily_max_messages",
    "daily_max_tokens", "weekly_max_messages", "weekly_max_tokens", "monthly_max_messages", "monthly_max_tokens",
    "monthly_free_model_messages", "monthly_free_model_tokens", "daily_image_generation_limit",
    "weekly_image_generation_limit", "monthly_image_generation_limit", "is_active", "created_at",
}
USAGE_ROW_FIELDS = {"id", "session_id", "tokens_count", "free_model_tokens_count", "is_free_model", "cost_usd",
                    "created_at", "updated_at"}


def wait_for_usage_rows(client, count: int, timeout: float = 60) -> list[dict]:
    """Billing records usage when it hears the reply completed, a moment after chat stored it."""
    deadline = time.monotonic() + timeout
    while True:
        rows = client.get("/api/chat-session-usages/").json()
        if len(rows) >= count and all(Decimal(r["cost_usd"]) > 0 for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_the_user_object(user):
    response = user.get("/api/users/")
    assert response.status_code == 200
    me = response.json()
    assert set(me) == {"id", "phone_number", "name", "is_verified", "date_joined"}
    assert user.get("/api/users/access/").json() == {"is_staff": False}
    assert me["id"] == user.user_id and me["phone_number"] == user.phone
    assert me["is_verified"] is True and me["date_joined"].endswith("Z")  # registering proves the phone
    assert user.get("/api/users").json() == me  # no trailing slash


def test_a_new_user_has_the_free_plan_with_no_end(user):
    response = user.get("/api/users/subscription/")
    assert response.status_code == 200
    subscription = response.json()
    assert set(subscription) == {"id", "subscription_type", "is_active", "start_date", "end_date"}
    assert subscription["is_active"] is True and subscription["end_date"] is None
    plan = subscription["subscription_type"]
    assert set(plan) == PLAN_FIELDS
    assert plan["sku"] == "FREE_SUB_30D" and plan["hourly_max_messages"] == 2 and plan["duration_days"] == 30
    # Money is a decimal string with two places.
    assert plan["price"] == "0.00" and plan["max_openrouter_cost_usd"] == "0.00"


def test_a_started_plan_has_an_end(premium):
    subscription = premium.get("/api/users/subscription").json()
    plan = subscription["subscription_type"]
    assert plan["sku"] == "PREMIUM_SUB_30D" and plan["price"] == "200000.00"
    assert subscription["end_date"] > subscription["start_date"]


def test_usage_lists_all_twenty_limits(user):
    response = user.get("/api/users/usage/")
    assert response.status_code == 200
    report = response.json()
    assert report["subscription_type_id"] == 1
    limits = {entry["name"]: entry for entry in report["limits"]}
    assert len(report["limits"]) == 20 and set(limits) == set(LIMIT_NAMES)
    for entry in report["limits"]:
        assert set(entry) == {"name", "limit", "used", "remaining", "resets_in"}
    hourly = limits["hourly_messages"]
    assert hourly == {"name": "hourly_messages", "limit": 2, "used": 0, "remaining": 2, "resets_in": hourly["resets_in"]}
    unlimited = limits["max_openrouter_cost_usd"]  # 0 on the Free plan: no cap
    assert unlimited["limit"] in (0, "0", "0.00") and unlimited["remaining"] is None and unlimited["resets_in"] is None


def test_usage_counts_an_exchange(user):
    session = create_session(user)
    exchange(user, session["id"], "Count this one")
    wait_for_usage_rows(user, 1)
    limits = {entry["name"]: entry for entry in user.get("/api/users/usage").json()["limits"]}
    assert limits["hourly_messages"]["used"] == 1 and limits["hourly_messages"]["remaining"] == 1
    assert 0 < limits["hourly_messages"]["resets_in"] <= 3600 + 60  # the hour counts in minute buckets
    assert limits["monthly_free_model_messages"]["used"] == 1  # the General Assistant's model is free
    assert limits["hourly_tokens"]["used"] > 0
    assert limits["max_tokens"]["used"] == 0  # paid-model tokens only


def test_session_usage_rows_after_replies(premium):
    free_session = create_session(premium)  # General Assistant on a free model
    paid_session = create_session(premium, ai_model_id="anthropic/claude-3-opus")
    exchange(premium, free_session["id"], "First, on a free model")
    exchange(premium, paid_session["id"], "Then on a paid one")
    rows = wait_for_usage_rows(premium, 2)
    assert [r["session_id"] for r in rows] == [paid_session["id"], free_session["id"]]  # newest first
    paid, free = rows
    for row in rows:
        assert set(row) == USAGE_ROW_FIELDS
        assert isinstance(row["cost_usd"], str) and Decimal(row["cost_usd"]) > 0
    assert free["is_free_model"] is True and free["free_model_tokens_count"] > 0 and free["tokens_count"] == 0
    assert paid["is_free_model"] is False and paid["tokens_count"] > 0 and paid["free_model_tokens_count"] == 0
    page = premium.get("/api/chat-session-usages/", params={"page": 1, "page_size": 1}).json()
    assert page["count"] == 2 and page["results"] == [paid] and page["next"]


def test_no_usage_rows_before_any_exchange(user):
    create_session(user)
    assert user.get("/api/chat-session-usages/").json() == []
    assert user.get("/api/chat-session-usages").json() == []
