"""The Stripe provider's pure parts: amounts in the currency's minor unit, and what a PaymentIntent
says of a payment (the end-to-end tests against localstripe are in tests/payments/test_stripe.py)."""

from decimal import Decimal

import pytest
from billing.providers import ProviderError, minor_units, stripe_outcome


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
