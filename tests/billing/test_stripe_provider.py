"""The Stripe provider: amounts in the currency's minor unit, what a PaymentIntent says of a payment,
and billing with the provider against localstripe under a frozen clock (expiry). The end-to-end tests
through the gateway are in tests/payments/test_stripe.py."""

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from billing.models import Plan
from billing.payments import Payments
from billing.providers import ProviderError, Stripe, Zibal, minor_units, stripe_outcome
from sqlalchemy import update

from shared.contracts import payments as p
from shared.db import transaction
from shared.errors import ValidationFailed
from tests.payments.conftest import STRIPE_KEY, localstripe  # noqa: F401 (localstripe: the process fixture)

BASIC = 2


def test_minor_units_follow_stripes_currency_list():
    assert minor_units("USD") == 100 and minor_units("eur") == 100
    assert minor_units("JPY") == 1 and minor_units("KRW") == 1
    assert minor_units("KWD") == 1000
    for iranian in ("IRT", "IRR"):
        with pytest.raises(ProviderError):
            minor_units(iranian)


def test_a_succeeded_intent_is_paid_with_what_was_received_in_units():
    intent = {"status": "succeeded", "amount": 999, "amount_received": 999, "currency": "usd"}
    assert stripe_outcome(intent, "USD").state == "paid"
    assert stripe_outcome(intent, "USD").amount == Decimal("9.99")
    assert stripe_outcome({**intent, "amount_received": 500}, "USD").amount == Decimal("5.00")
    assert stripe_outcome({"status": "succeeded", "amount": 1200, "currency": "jpy"}, "JPY").amount == Decimal(1200)


def test_a_succeeded_intent_in_another_currency_or_without_an_amount_never_matches():
    for intent in ({"status": "succeeded", "amount": 999, "currency": "eur"},
                   {"status": "succeeded", "currency": "usd"}):
        outcome = stripe_outcome(intent, "USD")
        assert outcome.state == "paid" and outcome.amount is not None and outcome.amount < 0


def test_only_succeeded_and_canceled_settle():
    assert stripe_outcome({"status": "canceled"}, "USD").state == "cancelled"
    for status in ("requires_payment_method", "requires_confirmation", "requires_action", "processing",
                   "requires_capture", None):
        assert stripe_outcome({"status": status, "amount": 999, "currency": "usd"}, "USD").state == "pending"


@pytest.fixture
async def stripe_payments(env, localstripe):  # noqa: F811
    """Billing with Stripe (localstripe) as its provider, and Basic sold in dollars."""
    async with transaction(env.factory) as s:
        await s.exec(update(Plan).where(Plan.id == BASIC).values(currency="USD", price=Decimal("9.99")))
    provider = Stripe(STRIPE_KEY, api_base=localstripe, page_url="http://app.test/pay/stripe/")
    env.service.payments.providers = {"stripe": provider}
    stripe = httpx.Client(base_url=localstripe, auth=(STRIPE_KEY, ""), timeout=30)
    yield env.service.payments, stripe
    stripe.close()
    await provider.close()


async def checkout(payments) -> tuple[p.Payment, str]:
    payment = await payments.checkout(p.Checkout(user_id=1, plan_id=BASIC, provider="stripe",
                                                 callback_url="http://gateway.test/unused"))
    secret = parse_qs(urlsplit(payment.redirect_url).query)["client_secret"][0]
    return payment, secret.split("_secret_")[0]


def pay(stripe: httpx.Client, intent: str) -> httpx.Response:
    method = stripe.post("/v1/payment_methods", data={
        "type": "card", "card[number]": "4242424242424242", "card[exp_month]": "12", "card[exp_year]": "2034",
        "card[cvc]": "123",
    }).json()["id"]
    assert stripe.post(f"/v1/payment_intents/{intent}", data={"payment_method": method}).status_code == 200
    return stripe.post(f"/v1/payment_intents/{intent}/confirm")


async def status(payments, payment: p.Payment) -> str:
    return (await payments.get(p.GetPayment(payment_id=payment.id))).status


async def test_an_expired_payment_is_cancelled_at_stripe_so_it_cannot_be_paid_late(stripe_payments, env):
    payments, stripe = stripe_payments
    payment, intent = await checkout(payments)
    assert payment.status == "pending" and stripe.get(f"/v1/payment_intents/{intent}").json()["amount"] == 999
    assert (await payments.reconcile()).settled == 0  # not paid yet, not expired yet
    env.clock.advance(minutes=31)
    assert (await payments.reconcile()).settled == 1
    assert await status(payments, payment) == "expired"
    assert stripe.get(f"/v1/payment_intents/{intent}").json()["status"] == "canceled"
    assert pay(stripe, intent).status_code == 400  # the customer who comes back late cannot pay


async def test_a_payment_paid_before_reconciliation_completes_even_past_its_expiry(stripe_payments, env):
    payments, stripe = stripe_payments
    payment, intent = await checkout(payments)
    assert pay(stripe, intent).status_code == 200
    env.clock.advance(minutes=31)
    assert (await payments.reconcile()).settled == 1
    assert await status(payments, payment) == "completed"


def test_a_checkout_without_a_provider_goes_to_one_that_takes_the_plans_currency():
    zibal = Zibal("http://127.0.0.1:9", "zibal")
    stripe = Stripe("sk_test_x", api_base="http://127.0.0.1:9", page_url="/pay/stripe/")
    both = Payments(None, None, None, None, {"zibal": zibal, "stripe": stripe}, default_provider="zibal",
                    expire_minutes=30, default_sku="FREE")
    assert both._provider_for(None, "IRT") is zibal
    assert both._provider_for(None, "USD") is stripe  # the default (Zibal) does not take dollars
    assert both._provider_for("zibal", "USD") is zibal  # asked for: Zibal refuses it when opening
    with pytest.raises(ValidationFailed):
        both._provider_for("paypal", "IRT")
    zibal_only = Payments(None, None, None, None, {"zibal": zibal}, default_provider="zibal",
                          expire_minutes=30, default_sku="FREE")
    assert zibal_only._provider_for(None, "USD") is zibal  # nothing takes dollars: the default says so
