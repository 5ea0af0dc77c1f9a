"""Selling plans through Stripe, end to end (payments.md): real gateway, billing, RabbitMQ, Redis and
localstripe (a third-party stateful fake of Stripe's API). The customer's side (what Stripe.js does
in the browser: a card, then confirming the PaymentIntent) is driven through localstripe's API, and
localstripe delivers its signed webhooks to the gateway's webhook route."""

import asyncio
import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.api.harness import new_user
from tests.payments.conftest import STRIPE_KEY, STRIPE_PAGE, STRIPE_SECRET
from tests.support.api import Api

FREE = 1
WEBHOOK = "/api/payments/webhook/stripe/"
VISA, DECLINED = "4242424242424242", "4000000000000341"  # localstripe declines charging the second


@pytest.fixture(scope="session")
def stripe(localstripe) -> httpx.Client:
    client = httpx.Client(base_url=localstripe, auth=(STRIPE_KEY, ""), timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="session")
def deliver_webhooks(pay_system, stripe):
    """localstripe posts every event, signed with the endpoint's secret, to our webhook route."""
    def register(events: list[str] | None = None) -> None:
        data = {"url": f"{pay_system.gateway_url}{WEBHOOK}", "secret": STRIPE_SECRET}
        if events is not None:
            data.update({f"events[{i}]": event for i, event in enumerate(events)})
        assert stripe.post("/_config/webhooks/mobix", data=data).status_code == 200

    register()
    return register


@pytest.fixture(scope="module")
def usd_plan(admin) -> dict:
    """A plan in dollars, for sale while this module runs (the other modules see the seeded plans)."""
    created = admin.post("/api/admin/subscription-types/", json={
        "name": "Basic (USD)", "sku": "BASIC_USD_30D", "price": "9.99", "currency": "USD",
    })
    assert created.status_code == 201, created.text
    assert created.json()["currency"] == "USD"
    yield created.json()
    withdrawn = admin.patch(f"/api/admin/subscription-types/{created.json()['id']}/", json={"is_purchasable": False})
    assert withdrawn.status_code == 200, withdrawn.text


def checkout(user: Api, plan: dict) -> dict:
    response = user.post("/api/payments/checkout/", json={"subscription_type_id": plan["id"], "provider": "stripe"})
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "pending" and payment["provider"] == "stripe", payment
    return payment


def intent_of(payment: dict) -> tuple[str, str]:
    """The PaymentIntent id and client_secret the payment page gets."""
    url = payment["redirect_url"]
    assert url.startswith(STRIPE_PAGE + "?"), url
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["payment_id"] == payment["id"]
    secret = query["client_secret"]
    return secret.split("_secret_")[0], secret


def pay(stripe: httpx.Client, intent: str, card: str = VISA) -> dict:
    """What Stripe.js does on the payment page: a card for the intent, then confirm it."""
    method = stripe.post("/v1/payment_methods", data={
        "type": "card", "card[number]": card, "card[exp_month]": "12", "card[exp_year]": "2034", "card[cvc]": "123",
    })
    assert method.status_code == 200, method.text
    attached = stripe.post(f"/v1/payment_intents/{intent}", data={"payment_method": method.json()["id"]})
    assert attached.status_code == 200, attached.text
    stripe.post(f"/v1/payment_intents/{intent}/confirm")  # a declined card answers 402
    return stripe.get(f"/v1/payment_intents/{intent}").json()


def status_of(user: Api, payment: dict) -> str:
    return user.get(f"/api/payments/{payment['id']}/").json()["status"]


def wait_for_status(user: Api, payment: dict, wanted: str, timeout: float = 30) -> dict:
    """localstripe posts its webhook a second after the event."""
    deadline = time.monotonic() + timeout
    while True:
        current = user.get(f"/api/payments/{payment['id']}/").json()
        if current["status"] == wanted or time.monotonic() > deadline:
            assert current["status"] == wanted, current
            return current
        time.sleep(0.2)


def plan_of(user: Api) -> int:
    return user.get("/api/users/subscription/").json()["subscription_type"]["id"]


def event_of(stripe: httpx.Client, kind: str, intent: str) -> dict:
    """The event localstripe recorded (and delivered) for this intent."""
    events = stripe.get("/v1/events", params={"type": kind}).json()["data"]
    found = [event for event in events if event["data"]["object"]["id"] == intent]
    assert len(found) == 1, found
    return found[0]


def signed(event: dict, secret: str = STRIPE_SECRET) -> tuple[bytes, dict]:
    """The delivery Stripe makes: the payload and its `Stripe-Signature` (t=, v1=HMAC-SHA256)."""
    payload = json.dumps(event, indent=2, sort_keys=True).encode()
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), b"%d.%s" % (stamp, payload), hashlib.sha256).hexdigest()
    return payload, {"Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


def post_event(system, payload: bytes, headers: dict) -> httpx.Response:
    return httpx.post(f"{system.gateway_url}{WEBHOOK}", content=payload, headers=headers, timeout=30)


def test_paying_with_a_card_activates_the_plan_once(pay_system, billing, stripe, usd_plan, deliver_webhooks):
    user = new_user(pay_system)
    payment = checkout(user, usd_plan)
    assert payment["amount"] == "9.99" and payment["currency"] == "USD"
    intent, _ = intent_of(payment)
    asked = stripe.get(f"/v1/payment_intents/{intent}").json()
    assert asked["amount"] == 999 and asked["currency"] == "usd"  # cents: the currency's minor unit
    assert asked["metadata"]["payment_id"] == payment["id"]
    assert plan_of(user) == FREE  # nothing before the money

    assert pay(stripe, intent)["status"] == "succeeded"
    done = wait_for_status(user, payment, "completed")
    assert done["completed_at"]
    assert billing.activations(payment["id"]) == 1
    assert plan_of(user) == usd_plan["id"]  # SubscriptionStarted reached the gateway's plan copy


def test_a_replayed_or_duplicated_webhook_activates_once(pay_system, billing, stripe, usd_plan, deliver_webhooks):
    user = new_user(pay_system)
    payment = checkout(user, usd_plan)
    intent, _ = intent_of(payment)
    pay(stripe, intent)
    wait_for_status(user, payment, "completed")
    event = event_of(stripe, "payment_intent.succeeded", intent)

    payload, headers = signed(event)  # the same event, delivered again (freshly signed)
    replays = [post_event(pay_system, payload, headers) for _ in range(2)]
    with ThreadPoolExecutor(4) as pool:
        replays += list(pool.map(lambda _: post_event(pay_system, payload, headers), range(4)))
    assert [r.status_code for r in replays] == [200] * 6, [r.text for r in replays]
    assert billing.activations(payment["id"]) == 1
    with sqlite3.connect(pay_system.workdir / "billing.db") as db:  # taken in once, under Stripe's event id
        rows = db.execute("SELECT object_id, payment_id FROM stripe_event WHERE id = ?", (event["id"],)).fetchall()
    assert rows == [(intent, payment["id"].replace("-", ""))]
    assert status_of(user, payment) == "completed"


def test_a_bad_signature_is_400_and_changes_nothing(pay_system, billing, stripe, usd_plan):
    user = new_user(pay_system)
    payment = checkout(user, usd_plan)
    intent, _ = intent_of(payment)
    # a succeeded intent as Stripe would send it, for a payment nobody paid
    paid = {**stripe.get(f"/v1/payment_intents/{intent}").json(), "status": "succeeded"}
    event = {"id": f"evt_{uuid.uuid4().hex[:14]}", "object": "event", "type": "payment_intent.succeeded",
             "created": int(time.time()), "data": {"object": paid}}

    payload, headers = signed(event, secret="whsec_not_ours")
    wrong = post_event(pay_system, payload, {**headers, "Accept-Language": "fa"})
    assert wrong.status_code == 400, wrong.text
    assert "Stripe-Signature" in wrong.text and "مطابقت" in wrong.text  # in the user's language
    payload, headers = signed(event)
    tampered = post_event(pay_system, payload.replace(b'"usd"', b'"eur"'), headers)
    assert tampered.status_code == 400, tampered.text
    unsigned = post_event(pay_system, payload, {"Content-Type": "application/json"})
    assert unsigned.status_code == 400, unsigned.text
    assert "does not match" in unsigned.json()["error"]

    assert status_of(user, payment) == "pending"
    assert billing.activations(payment["id"]) == 0
    assert plan_of(user) == FREE


def test_an_amount_other_than_asked_fails_the_payment(pay_system, billing, stripe, usd_plan, deliver_webhooks):
    user = new_user(pay_system)
    payment = checkout(user, usd_plan)
    intent, _ = intent_of(payment)
    # the intent's amount changed at Stripe (anyone holding the key can), then paid: 5.00, not 9.99
    assert stripe.post(f"/v1/payment_intents/{intent}", data={"amount": "500"}).status_code == 200
    assert pay(stripe, intent)["status"] == "succeeded"
    wait_for_status(user, payment, "failed")
    assert billing.activations(payment["id"]) == 0
    assert plan_of(user) == FREE


def test_a_declined_card_leaves_the_payment_open_and_a_cancelled_intent_is_reconciled_cancelled(
        pay_system, billing, stripe, usd_plan, deliver_webhooks):
    user = new_user(pay_system)
    payment = checkout(user, usd_plan)
    intent, _ = intent_of(payment)
    assert pay(stripe, intent, DECLINED)["status"] == "requires_payment_method"  # the customer may try again
    event_of_failure = None
    deadline = time.monotonic() + 30
    while event_of_failure is None and time.monotonic() < deadline:
        events = stripe.get("/v1/events", params={"type": "payment_intent.payment_failed"}).json()["data"]
        event_of_failure = next((e for e in events if e["data"]["object"]["id"] == intent), None)
        time.sleep(0.2)
    assert event_of_failure is not None
    time.sleep(2)  # localstripe delivers a second after the event; nothing must come of it
    assert status_of(user, payment) == "pending"

    # localstripe sends no payment_intent.canceled event: reconciliation asks Stripe about the intent
    assert stripe.post(f"/v1/payment_intents/{intent}/cancel").status_code == 200
    asyncio.run(billing.reconcile())
    assert status_of(user, payment) == "cancelled"
    assert billing.activations(payment["id"]) == 0


def test_a_lost_webhook_is_completed_by_reconciliation_asking_stripe(
        pay_system, billing, stripe, usd_plan, deliver_webhooks):
    user = new_user(pay_system)
    payment = checkout(user, usd_plan)
    intent, _ = intent_of(payment)
    deliver_webhooks(["no.such.event"])  # the webhook is lost
    try:
        pay(stripe, intent)
        time.sleep(2)
        assert status_of(user, payment) == "pending"
        asyncio.run(billing.reconcile())
    finally:
        deliver_webhooks()
    assert status_of(user, payment) == "completed"
    assert billing.activations(payment["id"]) == 1
    asyncio.run(billing.reconcile())
    assert billing.activations(payment["id"]) == 1


def test_a_refund_goes_through_stripe_and_falls_back_to_the_default_plan(
        pay_system, admin, billing, stripe, usd_plan, deliver_webhooks):
    user = new_user(pay_system)
    payment = checkout(user, usd_plan)
    intent, _ = intent_of(payment)
    pay(stripe, intent)
    wait_for_status(user, payment, "completed")
    assert plan_of(user) == usd_plan["id"]

    refunded = admin.post(f"/api/admin/payments/{payment['id']}/refund/")
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "refunded"
    refunds = stripe.get("/v1/refunds", params={"payment_intent": intent}).json()["data"]
    assert [(r["amount"], r["currency"], r["status"]) for r in refunds] == [(999, "usd", "succeeded")]
    assert plan_of(user) == FREE
    assert admin.post(f"/api/admin/payments/{payment['id']}/refund/").status_code == 409
    assert len(stripe.get("/v1/refunds", params={"payment_intent": intent}).json()["data"]) == 1
