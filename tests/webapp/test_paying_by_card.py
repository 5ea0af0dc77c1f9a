"""Paying for a dollar plan by card in the web app, in Debian's chromium against the real system and
localstripe as `make run` starts it (devinfra.stripe_local, `System(stripe=True)`): checkout sends the
browser to the Stripe page (/pay/stripe/), which loads Stripe.js from STRIPE_JS_URL (here localstripe's
stand-in) and confirms the PaymentIntent; localstripe's signed webhook completes the payment and the
result page shows the new plan. The page's Content-Security-Policy admits that script's origin, and no
other page does."""

import re
import sqlite3

import pytest
from playwright.sync_api import expect

from tests.api.harness import FREE, new_user
from tests.webapp.conftest import DESKTOP, PHONE, shot
from tests.webapp.test_browser import _axe
from tests.webapp.test_buying import open_checkout

VISA, DECLINED = "4242424242424242", "4000000000000341"  # localstripe fails charging the second


@pytest.fixture(scope="module")
def usd_plan(admin) -> dict:
    """A plan in dollars (Stripe's; Zibal takes only IRT), for sale while this module runs."""
    created = admin.post("/api/admin/subscription-types/", json={
        "name": "Basic (USD)", "sku": "WEB_BASIC_USD", "price": "9.99", "currency": "USD"})
    assert created.status_code == 201, created.text
    yield created.json()
    withdrawn = admin.patch(f"/api/admin/subscription-types/{created.json()['id']}/", json={"is_purchasable": False})
    assert withdrawn.status_code == 200, withdrawn.text


def enter_card(page, number: str) -> None:
    page.get_by_test_id("card-number").fill(number)
    page.get_by_test_id("card-expiry").fill("12 / 34")
    page.get_by_test_id("card-cvc").fill("123")


def activations(system, payment_id: str) -> int:
    """Periods billing opened for this payment (its subscription row), read from billing's database."""
    with sqlite3.connect(system.workdir / "billing.db") as db:
        row = db.execute("SELECT user_id, plan_id, subscription_id, status FROM payment WHERE id = ?",
                         (payment_id.replace("-", ""),)).fetchone()
        if row is None or row[2] is None:
            return 0
        return db.execute("SELECT count(*) FROM subscription WHERE user_id = ? AND plan_id = ?", row[:2]).fetchone()[0]


def test_paying_by_card_through_the_stripe_page_activates_the_plan_once(browsing, system, usd_plan):
    user = new_user(system)
    page = browsing.page(user)
    open_checkout(page, usd_plan["id"])
    expect(page.get_by_test_id("quote-amount")).to_have_text("$9.99")
    plan_csp = page.evaluate("fetch('/plan').then(r => r.headers.get('content-security-policy'))")
    assert system.localstripe_url not in plan_csp  # only the Stripe page admits Stripe.js

    with page.expect_response(re.compile(r"/pay/stripe/\?")) as answered:
        page.get_by_test_id("pay").click()
    csp = answered.value.headers["content-security-policy"]
    assert f"script-src 'self' {system.localstripe_url};" in csp
    assert f"connect-src 'self' {system.localstripe_url};" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    page.wait_for_url(re.compile(r"/pay/stripe/\?payment_id=[0-9a-f-]{36}&client_secret=pi_"))
    payment_id = re.search(r"payment_id=([0-9a-f-]{36})", page.url).group(1)
    expect(page.get_by_test_id("stripe-amount")).to_have_text("$9.99")
    submit = page.get_by_test_id("stripe-submit")
    expect(submit).to_be_disabled()  # until the card is complete

    enter_card(page, DECLINED)  # declined: the error is shown, the payment stays open for another card
    submit.click()
    expect(page.locator(".form-error")).to_contain_text("declined")
    assert user.get(f"/api/payments/{payment_id}/").json()["status"] == "pending"
    assert user.get("/api/users/subscription/").json()["subscription_type"]["id"] == FREE

    enter_card(page, VISA)
    submit.click()
    page.wait_for_url(re.compile(rf"/payments/return\?payment_id={payment_id}&status="))
    # the result page polls the payment until localstripe's signed webhook has completed it
    expect(page.get_by_test_id("payment-result").get_by_test_id("status")).to_have_attribute(
        "data-status", "completed", timeout=30_000)
    expect(page.get_by_test_id("new-plan")).to_have_text(usd_plan["name"])
    assert user.get("/api/users/subscription/").json()["subscription_type"]["id"] == usd_plan["id"]
    assert activations(system, payment_id) == 1

    page.goto(f"/pay/stripe/?payment_id={payment_id}&client_secret=pi_x_secret_y")  # a settled payment
    page.wait_for_url(re.compile(r"/payments/return\?"))  # nothing to confirm: straight to its result
    assert activations(system, payment_id) == 1


def test_the_stripe_page_is_accessible_and_shown_in_both_languages(browsing, system, usd_plan):
    user = new_user(system)
    found = {}
    for locale, size, viewport in (("en-US", "desktop", DESKTOP), ("fa-IR", "phone", PHONE)):
        page = browsing.page(user, locale=locale, viewport=viewport)
        open_checkout(page, usd_plan["id"])
        page.get_by_test_id("pay").click()
        page.wait_for_url(re.compile(r"/pay/stripe/\?"))
        expect(page.get_by_test_id("card-number")).to_be_visible()
        found[locale] = _axe(page)
        shot(page, f"pay-stripe-{locale[:2]}-{size}")
    assert found == {"en-US": [], "fa-IR": []}
