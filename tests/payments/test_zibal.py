"""Selling plans through Zibal, end to end (payments.md): real gateway, billing, RabbitMQ, Redis and
the Zibal emulator, driven as a browser would be (the payment page, then the redirect back)."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.harness import create_session, exchange, new_user
from tests.payments.conftest import RETURN_URL
from tests.support.api import Api

FREE, BASIC, PREMIUM = 1, 2, 3
IMAGE_BOT = 4  # the Image Generator: Basic and Premium only


def checkout(client: Api, plan: int = BASIC, **body) -> httpx.Response:
    return client.post("/api/payments/checkout/", json={"subscription_type_id": plan, **body})


def pending(client: Api, plan: int = BASIC, **body) -> dict:
    response = checkout(client, plan, **body)
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "pending" and payment["redirect_url"], payment
    return payment


def pay(payment: dict, outcome: str = "paid") -> str:
    """Finish the emulator's payment page; returns where Zibal sends the browser (the callback)."""
    response = httpx.get(payment["redirect_url"], params={"outcome": outcome}, timeout=30)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def come_back(client: Api | httpx.Client, callback: str) -> dict:
    """The browser follows Zibal's redirect; returns the query of the gateway's redirect onward."""
    response = client.get(callback, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(RETURN_URL + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def track_of(payment: dict) -> str:
    return payment["redirect_url"].rsplit("/", 1)[1]


def wait_for_usage(client: Api, name: str, timeout: float = 30) -> dict:
    """Billing counts an exchange when it hears the reply completed, a moment after chat stored it."""
    deadline = time.monotonic() + timeout
    while True:
        limits = {row["name"]: row for row in client.get("/api/users/usage/").json()["limits"]}
        if limits[name]["used"] > 0 or time.monotonic() > deadline:
            assert limits[name]["used"] > 0, limits[name]
            return limits
        time.sleep(0.1)


def plan_of(client: Api) -> int:
    return client.get("/api/users/subscription/").json()["subscription_type"]["id"]


def test_plans_for_sale_are_public_cheapest_first_with_currency(pay_system):
    response = httpx.get(f"{pay_system.gateway_url}/api/plans/", timeout=30)
    assert response.status_code == 200, response.text
    plans = response.json()
    assert [p["id"] for p in plans] == [FREE, BASIC, PREMIUM]
    assert all(p["currency"] == "IRT" for p in plans)
    assert plans[1]["price"] == "70000.00" and plans[1]["is_purchasable"] is True


def test_subscription_keeps_the_seeds_shape(pay_system):
    user = new_user(pay_system)
    plan = user.get("/api/users/subscription/").json()["subscription_type"]
    assert "currency" not in plan and "is_purchasable" not in plan


def test_a_plan_withdrawn_from_sale_is_not_listed_nor_sold(pay_system, admin):
    created = admin.post("/api/admin/subscription-types/", json={
        "name": "Not for sale", "sku": "NOT_FOR_SALE", "price": "1000.00", "is_purchasable": False,
    })
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["currency"] == "IRT" and plan["is_purchasable"] is False
    listed = httpx.get(f"{pay_system.gateway_url}/api/plans/", timeout=30).json()
    assert plan["id"] not in [p["id"] for p in listed]
    user = new_user(pay_system)
    refused = checkout(user, plan["id"], discount_code=None)
    assert refused.status_code == 400 and "subscription_type_id" in refused.json()["fields"]
    assert user.get("/api/payments/").json() == []


def test_paying_activates_the_plan_once_and_limits_count_the_new_period_from_zero(pay_system, billing, zibal):
    user = new_user(pay_system)
    session = create_session(user)
    exchange(user, session["id"], "Before buying")  # the General Assistant's model is free
    before = wait_for_usage(user, "max_tokens_free")
    assert before["monthly_free_model_messages"]["used"] == 1

    payment = pending(user)
    assert payment["amount"] == "70000.00" and payment["currency"] == "IRT" and payment["provider"] == "zibal"
    assert plan_of(user) == FREE  # nothing before the money
    callback = pay(payment)
    back = come_back(user, callback)
    assert back == {"payment_id": payment["id"], "status": "completed"}
    assert plan_of(user) == BASIC  # the gateway's plan copy (300 s here) was dropped at once

    done = user.get(f"/api/payments/{payment['id']}/").json()
    assert done["status"] == "completed" and done["completed_at"]
    track = zibal.get(f"/_emulator/tracks/{track_of(payment)}").json()
    assert track["status"] == 1 and track["amount"] == 700_000  # verified, in rials

    # a new period: its totals start from zero
    after = {row["name"]: row for row in user.get("/api/users/usage/").json()["limits"]}
    assert after["max_tokens_free"]["used"] == 0
    assert after["max_tokens"]["used"] == 0

    # the browser comes back again, Zibal redirects again: the same answer, no second period
    assert come_back(user, callback)["status"] == "completed"
    assert come_back(user, pay(payment))["status"] == "completed"
    assert come_back(httpx.Client(timeout=30), callback)["status"] == "completed"  # without cookies
    assert billing.activations(payment["id"]) == 1


def test_cancelled_and_failed_payments_start_nothing(pay_system, billing):
    user = new_user(pay_system)
    for outcome, status in (("cancelled", "cancelled"), ("failed", "failed")):
        payment = pending(user)
        assert come_back(user, pay(payment, outcome)) == {"payment_id": payment["id"], "status": status}
        assert user.get(f"/api/payments/{payment['id']}/").json()["status"] == status
        # a later "paid" page for the same track cannot revive it
        assert come_back(user, pay(payment, "paid"))["status"] == status
    assert plan_of(user) == FREE
    assert billing.periods(user.user_id, BASIC) == 0


def test_a_forged_success_the_provider_does_not_confirm_changes_nothing(pay_system, billing, zibal):
    user = new_user(pay_system)
    payment = pending(user)
    forged = (f"{pay_system.gateway_url}/api/payments/callback/zibal/?success=1&status=2"
              f"&trackId={track_of(payment)}&orderId={payment['id']}")
    assert come_back(user, forged) == {"payment_id": payment["id"], "status": "pending"}
    assert user.get(f"/api/payments/{payment['id']}/").json()["status"] == "pending"
    assert plan_of(user) == FREE and billing.periods(user.user_id, BASIC) == 0
    # unknown tracks and orders that do not match their track name nothing
    other = pending(user)
    mixed = forged.replace(f"orderId={payment['id']}", f"orderId={other['id']}")
    assert come_back(user, mixed) == {"payment_id": "", "status": "unknown"}
    assert come_back(user, forged.replace(track_of(payment), "123"))["status"] == "unknown"
    assert come_back(user, f"{pay_system.gateway_url}/api/payments/callback/zibal/")["status"] == "unknown"


def test_a_callback_for_another_users_payment_changes_nothing(pay_system, billing):
    owner, intruder = new_user(pay_system), new_user(pay_system)
    payment = pending(owner)
    callback = pay(payment)  # paid at Zibal, not yet verified
    assert come_back(intruder, callback) == {"payment_id": "", "status": "unknown"}
    assert owner.get(f"/api/payments/{payment['id']}/").json()["status"] == "pending"
    assert intruder.get(f"/api/payments/{payment['id']}/").status_code == 404
    assert intruder.get("/api/payments/").json() == []
    assert plan_of(intruder) == FREE and billing.periods(intruder.user_id, BASIC) == 0
    # the owner's own return completes it
    assert come_back(owner, callback)["status"] == "completed"
    assert billing.activations(payment["id"]) == 1


def test_a_verify_that_timed_out_after_the_money_was_taken_is_reconciled_once(pay_system, billing, zibal):
    user = new_user(pay_system)
    payment = pending(user)
    callback = pay(payment)
    zibal.post("/_emulator/faults", json={"faults": [{"route": "verify", "kind": "timeout", "seconds": 8}]})
    assert come_back(user, callback)["status"] == "pending"  # billing gave up waiting (2 s)
    assert zibal.get(f"/_emulator/tracks/{track_of(payment)}").json()["status"] == 1  # yet Zibal took it
    assert billing.periods(user.user_id, BASIC) == 0

    asyncio.run(billing.reconcile())
    asyncio.run(billing.reconcile())
    assert user.get(f"/api/payments/{payment['id']}/").json()["status"] == "completed"
    assert billing.activations(payment["id"]) == 1
    assert plan_of(user) == BASIC
    assert come_back(user, callback)["status"] == "completed"  # the late return changes nothing
    assert billing.activations(payment["id"]) == 1


def chatbot_ids(client: Api) -> set[int]:
    return {bot["id"] for bot in client.get("/api/chatbots/").json()}


def test_a_lost_callback_is_completed_by_reconciliation_and_announced(pay_system, billing):
    user = new_user(pay_system)
    assert IMAGE_BOT not in chatbot_ids(user)  # the gateway now keeps the Free plan for 300 s
    payment = pending(user)
    pay(payment)  # paid, but the browser never comes back
    asyncio.run(billing.reconcile())
    assert user.get(f"/api/payments/{payment['id']}/").json()["status"] == "completed"
    assert billing.activations(payment["id"]) == 1
    # No gateway request took part: SubscriptionStarted made the gateway drop its copy of the plan.
    deadline = time.monotonic() + 30
    while IMAGE_BOT not in chatbot_ids(user) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert IMAGE_BOT in chatbot_ids(user)


def test_provider_errors_leave_the_payment_pending_until_zibal_answers(pay_system, billing, zibal):
    user = new_user(pay_system)
    payment = pending(user)
    callback = pay(payment)
    zibal.post("/_emulator/faults", json={"faults": [{"route": "verify", "kind": "error", "status": 502},
                                                     {"route": "inquiry", "kind": "error", "status": 500}]})
    assert come_back(user, callback)["status"] == "pending"
    assert come_back(user, callback)["status"] == "completed"
    assert billing.activations(payment["id"]) == 1


def test_an_amount_other_than_asked_fails_the_payment(pay_system, billing, zibal):
    user = new_user(pay_system)
    payment = pending(user)
    zibal.post("/_emulator/faults", json={"faults": [{"route": "verify", "kind": "amount", "delta": -10_000}]})
    assert come_back(user, pay(payment))["status"] == "failed"
    assert plan_of(user) == FREE and billing.periods(user.user_id, BASIC) == 0


def test_checkout_when_zibal_refuses_is_503_and_leaves_a_failed_payment(pay_system, zibal):
    user = new_user(pay_system)
    zibal.post("/_emulator/faults", json={"faults": [{"route": "request", "kind": "error", "status": 500}]})
    response = checkout(user)
    assert response.status_code == 503, response.text
    assert [p["status"] for p in user.get("/api/payments/").json()] == ["failed"]


def test_payments_are_listed_newest_first_and_paged(pay_system):
    user = new_user(pay_system)
    ids = [pending(user)["id"] for _ in range(3)]
    assert [p["id"] for p in user.get("/api/payments/").json()] == ids[::-1]
    page = user.get("/api/payments/", params={"page": 2, "page_size": 2}).json()
    assert page["count"] == 3 and [p["id"] for p in page["results"]] == [ids[0]] and page["next"] is None
    assert user.get("/api/payments/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert user.get("/api/payments/not-a-uuid/").status_code in (400, 404)


def test_a_quote_stores_nothing_and_credits_the_rest_of_a_paid_period(pay_system, billing, admin):
    user = new_user(pay_system)
    quote = user.post("/api/payments/quote/", json={"subscription_type_id": PREMIUM}).json()
    assert quote == {"original_amount": "200000.00", "credit_amount": "0.00", "discount_amount": "0.00",
                     "amount": "200000.00", "currency": "IRT", "discount_code": None}
    come_back(user, pay(pending(user, BASIC)))  # now on Basic, its period just started
    upgrade = user.post("/api/payments/quote/", json={"subscription_type_id": PREMIUM}).json()
    credit = Decimal(upgrade["credit_amount"])
    assert Decimal(69999) <= credit <= Decimal(70000) and credit == credit.to_integral_value()
    assert Decimal(upgrade["amount"]) == 200_000 - credit
    assert user.get("/api/payments/").json()[0]["subscription_type_id"] == BASIC  # the quote stored nothing


def test_bad_input_is_a_clear_400_in_the_users_language(pay_system):
    user = new_user(pay_system)
    unknown = user.post("/api/payments/quote/", json={"subscription_type_id": BASIC, "discount_code": "NOPE"})
    assert unknown.status_code == 400 and unknown.json()["fields"]["discount_code"] == ["This discount code does not exist."]
    persian = user.post("/api/payments/quote/", json={"subscription_type_id": BASIC, "discount_code": "NOPE"},
                        headers={"Accept-Language": "fa"})
    assert persian.json()["fields"]["discount_code"] == ["این کد تخفیف وجود ندارد."]
    assert user.post("/api/payments/quote/", json={"subscription_type_id": 999}).status_code == 400
    assert user.post("/api/payments/checkout/", json={"subscription_type_id": "x"}).status_code == 400
    assert user.post("/api/payments/checkout/", json={"subscription_type_id": BASIC, "provider": "paypal"}).status_code == 400
    assert httpx.post(f"{pay_system.gateway_url}/api/payments/quote/", json={"subscription_type_id": BASIC}).status_code == 401


# --- discount codes -------------------------------------------------------------------------------


def new_code(admin: Api, **fields) -> dict:
    response = admin.post("/api/admin/discount-codes/", json={"discount_type": "percentage", "discount_value": "50", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_discount_codes_are_admin_crud_and_case_insensitive(pay_system, admin):
    code = new_code(admin, code="Spring50", subscription_type_ids=[BASIC], max_uses=5)
    assert code["times_used"] == 0 and code["max_uses_per_user"] == 1 and code["is_active"] is True
    assert admin.post("/api/admin/discount-codes/", json={"code": "SPRING50", "discount_type": "fixed",
                                                          "discount_value": "1"}).status_code == 400
    assert admin.post("/api/admin/discount-codes/", json={"code": "x", "discount_type": "percentage",
                                                          "discount_value": "101"}).status_code == 400
    patched = admin.patch(f"/api/admin/discount-codes/{code['id']}/", json={"max_uses": 7})
    assert patched.status_code == 200 and patched.json()["max_uses"] == 7 and patched.json()["code"] == "Spring50"
    user = new_user(pay_system)
    quote = user.post("/api/payments/quote/", json={"subscription_type_id": BASIC, "discount_code": "spring50"}).json()
    assert quote["discount_amount"] == "35000.00" and quote["amount"] == "35000.00" and quote["discount_code"] == "Spring50"
    wrong = user.post("/api/payments/quote/", json={"subscription_type_id": PREMIUM, "discount_code": "spring50"})
    assert wrong.json()["fields"]["discount_code"] == ["This discount code is not for this plan."]
    assert admin.get(f"/api/admin/discount-codes/{code['id']}/").status_code == 200
    assert user.get("/api/admin/discount-codes/").status_code == 403
    assert admin.delete(f"/api/admin/discount-codes/{code['id']}/").status_code == 204
    assert admin.get(f"/api/admin/discount-codes/{code['id']}/").status_code == 404


def test_a_use_is_held_at_checkout_and_given_back_when_the_payment_is_cancelled(pay_system, admin):
    code = new_code(admin, code="ONCE-ONLY", max_uses=1)
    first, second = new_user(pay_system), new_user(pay_system)
    held = pending(first, discount_code="once-only")
    assert held["amount"] == "35000.00"
    taken = checkout(second, discount_code="once-only")
    assert taken.status_code == 400 and taken.json()["fields"]["discount_code"] == ["This discount code has been used up."]
    come_back(first, pay(held, "cancelled"))
    again = pending(second, discount_code="once-only")
    come_back(second, pay(again))
    assert admin.get(f"/api/admin/discount-codes/{code['id']}/").json()["times_used"] == 1
    mine_again = checkout(second, PREMIUM, discount_code="once-only")
    assert mine_again.status_code == 400


def test_fifty_concurrent_checkouts_never_use_a_code_more_than_max_uses(pay_system, admin, billing):
    code = new_code(admin, code="RACE10", discount_value="100", max_uses=10, max_uses_per_user=50)
    user = new_user(pay_system)
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: checkout(user, discount_code="race10"), range(50)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(201) == 10, statuses
    assert all(r.status_code == 400 and "discount_code" in r.json()["fields"] for r in answers if r.status_code != 201)
    completed = [r.json() for r in answers if r.status_code == 201]
    assert all(p["status"] == "completed" and p["amount"] == "0.00" for p in completed)  # nothing to pay
    assert admin.get(f"/api/admin/discount-codes/{code['id']}/").json()["times_used"] == 10
    assert billing.periods(user.user_id, BASIC) == 10  # one period per completed payment


# --- staff: payments and refunds ------------------------------------------------------------------


def test_admin_lists_payments_and_a_refund_falls_back_to_the_default_plan(pay_system, admin):
    user = new_user(pay_system)
    payment = pending(user)
    come_back(user, pay(payment))
    assert plan_of(user) == BASIC
    listed = admin.get("/api/admin/payments/", params={"user": user.user_id, "status": "completed"}).json()
    assert [p["id"] for p in listed] == [payment["id"]] and listed[0]["user_id"] == user.user_id
    assert admin.get("/api/admin/payments/", params={"user": user.user_id, "status": "failed"}).json() == []
    assert admin.get("/api/admin/payments/", params={"status": "bogus"}).status_code == 400
    assert user.post(f"/api/admin/payments/{payment['id']}/refund/").status_code == 403

    refunded = admin.post(f"/api/admin/payments/{payment['id']}/refund/")
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"
    assert plan_of(user) == FREE
    assert admin.post(f"/api/admin/payments/{payment['id']}/refund/").status_code == 409
    cancelled = pending(user)
    come_back(user, pay(cancelled, "cancelled"))
    assert admin.post(f"/api/admin/payments/{cancelled['id']}/refund/").status_code == 409


def test_plans_for_sale_page_like_every_list(pay_system):
    page = httpx.get(f"{pay_system.gateway_url}/api/plans/", params={"page": 1, "page_size": 2}, timeout=30).json()
    assert page["count"] >= 3 and [p["id"] for p in page["results"]] == [FREE, BASIC] and page["next"]
