"""Buying a plan in the web app, in Debian's chromium against the real system and the Zibal emulator
(`System` starts it): checkout to the provider's page, the outcome chosen on the emulator's page
(`?outcome=`), back through the gateway's callback to the return page; a 100 % discount code that
completes at once; field errors in the user's language; accessibility and screenshots."""

import re
import uuid

import httpx
from playwright.sync_api import expect

from tests.api.harness import BASIC, FREE, PASSWORD, PREMIUM, new_user
from tests.webapp.conftest import DESKTOP, PHONE, shot
from tests.webapp.test_browser import _axe


def plans_of(system) -> dict[int, dict]:
    return {plan["id"]: plan for plan in httpx.get(f"{system.gateway_url}/api/plans/", timeout=30).json()}


def open_checkout(page, plan_id: int):
    page.goto("/plan")
    page.locator(f'[data-testid="buy"][data-plan-id="{plan_id}"]').click()
    expect(page.get_by_test_id("quote-amount")).to_be_visible()


def pay_on_the_emulator(page, system, outcome: str) -> None:
    """Checkout sends the browser to the emulator's page; finish it there as a person would choose."""
    page.get_by_test_id("pay").click()
    page.wait_for_url(f"{system.zibal_url}/start/**")
    page.goto(f"{page.url.split('?')[0]}?outcome={outcome}")  # 302 → gateway callback → 302 → the app
    page.wait_for_url(re.compile(r"/payments/return\?payment_id=[0-9a-f-]{36}&status="))


def discount_code(admin, percent: str, plan_id: int, code: str | None = None) -> str:
    code = code or f"WEB{uuid.uuid4().hex[:8].upper()}"
    response = admin.post("/api/admin/discount-codes/", json={
        "code": code, "discount_type": "percentage", "discount_value": percent, "subscription_type_ids": [plan_id]})
    assert response.status_code == 201, response.text
    return code


def test_buying_basic_through_zibal_completes_and_the_usage_page_shows_its_limits(browsing, system):
    user = new_user(system)
    plans = plans_of(system)
    basic, free = plans[BASIC], plans[FREE]
    assert basic["daily_max_messages"] != free["daily_max_messages"]  # else the usage check below proves nothing
    page = browsing.page(user)
    open_checkout(page, BASIC)
    expect(page.get_by_test_id("quote-original")).to_have_text(f"{int(float(basic['price'])):,} toman")
    expect(page.get_by_test_id("quote-amount")).to_have_text(f"{int(float(basic['price'])):,} toman")
    pay_on_the_emulator(page, system, "paid")

    expect(page.get_by_test_id("payment-result").get_by_test_id("status")).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("new-plan")).to_have_text(basic["name"])
    assert user.get("/api/users/subscription/").json()["subscription_type"]["id"] == BASIC

    page.get_by_test_id("back-to-plan").click()
    expect(page.get_by_test_id("current-plan")).to_have_text(basic["name"])
    history = page.get_by_test_id("payment")
    expect(history).to_have_count(1)
    expect(history.first.get_by_test_id("status")).to_have_attribute("data-status", "completed")
    expect(page.locator(f'[data-testid="buy"][data-plan-id="{BASIC}"]')).to_have_text("Renew")

    page.goto("/usage")
    daily = page.locator('[data-testid="meter"][data-name="daily_messages"] .meter-num')
    expect(daily).to_contain_text(f"/ {basic['daily_max_messages']:,} ")


def test_a_cancelled_payment_shows_cancelled_and_leaves_the_plan(browsing, system):
    user = new_user(system)
    free = plans_of(system)[FREE]
    page = browsing.page(user)
    open_checkout(page, BASIC)
    pay_on_the_emulator(page, system, "cancelled")

    expect(page.get_by_test_id("payment-result").get_by_test_id("status")).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_test_id("new-plan")).to_have_count(0)
    assert user.get("/api/users/subscription/").json()["subscription_type"]["id"] == FREE
    page.get_by_test_id("back-to-plan").click()
    expect(page.get_by_test_id("current-plan")).to_have_text(free["name"])
    expect(page.get_by_test_id("payment").first.get_by_test_id("status")).to_have_attribute("data-status", "cancelled")


def test_a_pending_payment_is_polled_until_it_settles(browsing, system):
    """The return page may be opened before the provider has settled: it asks again until it has."""
    user = new_user(system)
    page = browsing.page(user)
    open_checkout(page, BASIC)
    page.get_by_test_id("pay").click()
    page.wait_for_url(f"{system.zibal_url}/start/**")
    start = page.url
    payment = user.get("/api/payments/").json()[0]
    page.goto(f"/payments/return?payment_id={payment['id']}&status=pending")
    result = page.get_by_test_id("payment-result").get_by_test_id("status")
    expect(result).to_have_attribute("data-status", "pending")
    # the person pays in another tab; this page learns it by polling (the callback settles it)
    settled = httpx.get(start, params={"outcome": "paid"}, timeout=30)
    assert settled.status_code == 302
    assert user.get(settled.headers["location"], follow_redirects=False).status_code == 302
    expect(result).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("new-plan")).to_have_text(plans_of(system)[BASIC]["name"])


def test_coming_back_signed_out_shows_the_result_after_signing_in(browsing, system):
    user = new_user(system)
    payment = user.post("/api/payments/checkout/", json={"subscription_type_id": BASIC}).json()
    page = browsing.page()  # no session: it ended while the person was on the provider's page
    page.goto(f"/payments/return?payment_id={payment['id']}&status=pending")
    page.wait_for_url("**/login")
    page.get_by_test_id("phone").fill(user.phone)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("submit").click()
    page.wait_for_url(f"**/payments/return?payment_id={payment['id']}&status=pending")
    expect(page.get_by_test_id("payment-result").get_by_test_id("status")).to_have_attribute("data-status", "pending")


def test_a_full_discount_completes_at_once_and_a_bad_code_is_refused_next_to_the_field(browsing, system, admin):
    user = new_user(system)
    basic = plans_of(system)[BASIC]
    code = discount_code(admin, "100", BASIC)

    page = browsing.page(user, locale="fa-IR")
    open_checkout(page, BASIC)
    field = page.get_by_test_id("discount-code")
    field.fill("NOPE")
    page.get_by_test_id("apply-code").click()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".discount-form .field-error")).to_have_text("این کد تخفیف وجود ندارد.")
    assert user.get("/api/payments/").json() == []  # asking stores nothing

    field.fill(code.lower())  # codes compare case-insensitively
    page.get_by_test_id("apply-code").click()
    expect(field).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("quote-discount")).to_be_visible()
    expect(page.get_by_test_id("quote-amount")).to_have_text("۰ تومان")
    page.get_by_test_id("pay").click()  # nothing to pay: no provider page, straight to the result

    page.wait_for_url(re.compile(r"/payments/return\?payment_id=.+&status=completed"))
    expect(page.get_by_test_id("payment-result").get_by_test_id("status")).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("new-plan")).to_have_text(basic["name"])
    assert user.get("/api/users/subscription/").json()["subscription_type"]["id"] == BASIC


def test_upgrading_shows_the_credit_for_the_rest_of_the_current_plan(browsing, system, admin):
    user = new_user(system, plan=BASIC, admin=admin)

    def credit() -> int:
        quote = user.post("/api/payments/quote/", json={"subscription_type_id": PREMIUM}).json()
        return int(float(quote["credit_amount"]))

    def shown(testid: str) -> int:
        return int(re.sub(r"\D", "", page.get_by_test_id(testid).inner_text()))

    before = credit()
    assert before > 0
    page = browsing.page(user)
    page.goto("/plan")
    expect(page.locator(f'[data-testid="buy"][data-plan-id="{PREMIUM}"]')).to_have_text("Upgrade")
    expect(page.locator(f'[data-testid="buy"][data-plan-id="{BASIC}"]')).to_have_text("Renew")
    open_checkout(page, PREMIUM)
    expect(page.get_by_test_id("quote-credit")).to_have_text(re.compile(r"^− [\d,]+ toman$"))
    # the credit shrinks as the period runs: what the page shows lies between two asks around it
    assert credit() <= shown("quote-credit") <= before
    assert shown("quote-amount") == shown("quote-original") - shown("quote-credit")


def test_buy_buttons_only_for_plans_for_sale_and_usable_by_keyboard(browsing, system):
    user = new_user(system)
    plans = plans_of(system)
    page = browsing.page(user)
    page.goto("/plan")
    buttons = page.get_by_test_id("buy")
    expect(buttons).to_have_count(sum(1 for p in plans.values() if p["is_purchasable"] and float(p["price"]) > 0))
    assert float(plans[FREE]["price"]) == 0
    expect(page.locator(f'[data-testid="buy"][data-plan-id="{FREE}"]')).to_have_count(0)
    expect(page.locator(f'[data-testid="buy"][data-plan-id="{BASIC}"]')).to_have_text("Upgrade")

    page.locator(f'[data-testid="buy"][data-plan-id="{BASIC}"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#checkout-title")).to_be_focused()  # the panel takes the focus it opened with
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("discount-code")).to_be_focused()
    expect(page.get_by_test_id("quote-amount")).to_be_visible()


def test_plan_and_return_pages_have_no_serious_accessibility_violations(browsing, system):
    user = new_user(system)
    found = {}
    for locale in ("en-US", "fa-IR"):
        for scheme in ("light", "dark"):
            page = browsing.page(user, locale=locale, scheme=scheme)
            open_checkout(page, BASIC)
            page.get_by_test_id("discount-code").fill("NOPE")
            page.get_by_test_id("apply-code").click()
            page.locator(".discount-form .field-error").wait_for()
            found[f"plan {locale} {scheme}"] = _axe(page)
            page.goto(f"/payments/return?payment_id={uuid.uuid4()}&status=unknown")
            page.get_by_test_id("payment-result").get_by_role("alert").wait_for()
            found[f"return unknown {locale} {scheme}"] = _axe(page)
    page = browsing.page(user)
    open_checkout(page, BASIC)
    pay_on_the_emulator(page, browsing.system, "cancelled")
    page.get_by_test_id("payment-result").get_by_test_id("status").wait_for()
    found["return cancelled"] = _axe(page)
    assert {screen: v for screen, v in found.items() if v} == {}


def test_screenshots_of_buying_a_plan(browsing, system, admin):
    user = new_user(system)
    code = discount_code(admin, "20", BASIC, code="NOWRUZ20")  # once per system: the screenshot reads well
    page = browsing.page(user)
    open_checkout(page, BASIC)
    pay_on_the_emulator(page, system, "cancelled")  # so the history has a row
    for lang, locale in (("en", "en-US"), ("fa", "fa-IR")):
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page = browsing.page(user, locale=locale, viewport=viewport, scheme="dark" if size == "phone" else "light")
            open_checkout(page, BASIC)
            page.get_by_test_id("discount-code").fill(code)
            page.get_by_test_id("apply-code").click()
            expect(page.get_by_test_id("quote-discount")).to_be_visible()
            page.locator("h1").scroll_into_view_if_needed()
            shot(page, f"buy-{lang}-{size}")
            page.get_by_test_id("checkout").scroll_into_view_if_needed()
            shot(page, f"buy-checkout-{lang}-{size}")
            payment = user.get("/api/payments/").json()[0]
            page.goto(f"/payments/return?payment_id={payment['id']}&status={payment['status']}")
            page.get_by_test_id("payment-result").get_by_test_id("status").wait_for()
            shot(page, f"payment-return-{lang}-{size}")
