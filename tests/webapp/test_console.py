"""The staff console (/admin) in Debian's chromium against the real system: a staff user creates a plan,
links a model to it, moves a user onto it, and sees the dashboard's figures follow that user's
exchanges and a payment through the Zibal emulator; chatbot pictures, CSV exports, the audit log;
non-staff users see no console and get the not-allowed page (and the API refuses them anyway);
accessibility and screenshots (English desktop, Persian phone)."""

import csv
import io
import re
import struct
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.api.harness import BASIC, FREE, create_session, exchange, new_user
from tests.webapp.conftest import DESKTOP, PHONE, shot
from tests.webapp.test_browser import _axe

PAID_MODEL = "openai/gpt-4-turbo"  # seeded as a paid text model linked to Premium only


def tiny_png(path) -> None:
    """A 64×64 PNG written by hand (no imaging library needed)."""
    rows = b"".join(b"\x00" + bytes([20, 184, 166]) * 64 for _ in range(64))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def read_csv(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))))


def figure(page, testid: str) -> float:
    """A dashboard total as a plain number ("270,000 toman" → 270000)."""
    text = page.get_by_test_id(testid).get_by_test_id("kpi-value").inner_text()
    return float(re.sub(r"[^\d.]", "", text) or 0)


def open_dashboard(page):
    """The dashboard on its "last 7 days" range, once the figures of that range are on screen."""
    page.goto("/admin")
    expect(page.get_by_test_id("kpis")).to_be_visible()
    page.get_by_test_id("range-7").click()
    today = datetime.now(UTC).date()
    expect(page.get_by_test_id("dashboard")).to_have_attribute("data-range", f"{today - timedelta(days=6)}/{today}")


def wait_for_totals(admin, **wanted) -> dict:
    """Billing records usage and payments when it hears of them, a moment after the reply or the
    callback: wait until the report has counted them, so the page is loaded after that."""
    deadline = time.monotonic() + 60
    while True:
        totals = admin.get("/api/admin/reports/overview/").json()["totals"]
        if all(totals[key] >= value for key, value in wanted.items()) or time.monotonic() > deadline:
            return totals
        time.sleep(0.2)


def pay_through_zibal(client, plan_id: int) -> dict:
    """Checkout, pay on the emulator's page, and follow it back through the gateway's callback."""
    payment = client.post("/api/payments/checkout/", json={"subscription_type_id": plan_id}).json()
    paid = httpx.get(payment["redirect_url"], params={"outcome": "paid"}, timeout=30)
    assert paid.status_code == 302, paid.text
    assert client.get(paid.headers["location"], follow_redirects=False).status_code == 302
    settled = client.get(f"/api/payments/{payment['id']}/").json()
    assert settled["status"] == "completed", settled
    return settled


def test_staff_runs_the_business_from_the_console(browsing, system, admin):
    page = browsing.page(admin)
    page.goto("/")
    page.get_by_test_id("nav-console").click()
    expect(page).to_have_url(re.compile(r"/admin$"))
    open_dashboard(page)
    before = {name: figure(page, f"kpi-{name}") for name in ("messages", "payments", "revenue")}

    # A plan with every limit grouped by window; empty and 0 mean unlimited.
    name = f"Gold {uuid.uuid4().hex[:6]}"
    page.get_by_test_id("console-tab-plans").click()
    page.get_by_test_id("new-plan").click()
    editor = page.get_by_test_id("editor")
    expect(editor.get_by_text("0 = unlimited").first).to_be_visible()
    editor.get_by_test_id("field-name").fill(name)
    editor.get_by_test_id("field-sku").fill(f"SKU_{name.split()[1]}")
    editor.get_by_test_id("field-price").fill("150000")
    editor.get_by_test_id("field-daily_max_messages").fill("40")
    editor.get_by_test_id("field-three_hours_max_tokens").fill("90000")
    editor.get_by_test_id("field-price").fill("abc")  # refused next to the field, nothing stored
    editor.get_by_test_id("save").click()
    expect(editor.get_by_test_id("field-price")).to_have_attribute("aria-invalid", "true")
    editor.get_by_test_id("field-price").fill("150000")
    editor.get_by_test_id("save").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    expect(page.get_by_test_id("plans-table").get_by_text(name)).to_be_visible()
    plan = next(p for p in admin.get("/api/admin/subscription-types/").json() if p["name"] == name)
    assert (plan["daily_max_messages"], plan["three_hours_max_tokens"], plan["hourly_max_messages"]) == (40, 90000, 0)
    assert plan["price"] == "150000.00" and plan["currency"] == "IRT"

    # Link a paid model to it.
    page.get_by_test_id("console-tab-models").click()
    row = page.get_by_test_id("row").filter(has_text=PAID_MODEL)
    row.get_by_test_id("open-row").click()
    page.get_by_test_id("field-subscription_type_ids").get_by_label(name).check()
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    model = next(m for m in admin.get("/api/admin/ai-models/").json() if m["model_id"] == PAID_MODEL)
    assert plan["id"] in model["subscription_type_ids"]

    # Find a user by phone and move them onto it.
    user = new_user(system, name="Nima Moradi")
    page.get_by_test_id("console-tab-users").click()
    page.get_by_test_id("user-search").fill(user.phone[-7:])
    page.get_by_test_id("user-search-submit").click()
    expect(page.get_by_test_id("row")).to_have_count(1)
    page.get_by_test_id("open-row").click()
    panel = page.get_by_test_id("user-panel")
    expect(panel.get_by_test_id("user-usage")).to_be_visible()
    panel.get_by_test_id("move-plan").select_option(str(plan["id"]))
    panel.get_by_test_id("move-submit").click()
    expect(panel.get_by_test_id("notice")).to_have_text("Plan changed.")
    expect(panel.get_by_test_id("user-plan")).to_have_text(name)
    assert user.get("/api/users/subscription/").json()["subscription_type"]["id"] == plan["id"]
    daily = panel.locator('[data-name="daily_messages"] .usage-num')
    expect(daily).to_have_text("0 / 40")

    # The user chats on the newly linked model; someone on the free plan buys Basic through Zibal.
    session = create_session(user, ai_model_id=PAID_MODEL)
    for n in range(3):
        exchange(user, session["id"], f"Question {n} [[reply:words=12]]")
    payment = pay_through_zibal(new_user(system), BASIC)
    wait_for_totals(admin, messages=before["messages"] + 3, payments=before["payments"] + 1)

    open_dashboard(page)
    expect(page.get_by_test_id("kpi-messages").get_by_test_id("kpi-value")).to_have_text(f"{int(before['messages']) + 3:,}")
    assert figure(page, "kpi-payments") == before["payments"] + 1
    assert figure(page, "kpi-revenue") == before["revenue"] + float(payment["amount"])
    top_users = page.get_by_test_id("top-users-table")
    expect(top_users.get_by_text(user.phone)).to_be_visible()
    expect(page.get_by_test_id("top-models-table").get_by_text("GPT-4 Turbo")).to_be_visible()
    basic = page.get_by_test_id("revenue-by-plan-bars").locator('[data-label="Basic"]')
    expect(basic).to_be_visible()
    assert page.get_by_test_id("chart-messages").locator("rect.bar").count() >= 1

    # Every change above is in the audit log, newest first, by this staff user.
    page.get_by_test_id("console-tab-audit").click()
    audit = page.get_by_test_id("audit-table")
    expect(audit.get_by_test_id("row").first).to_contain_text("changed plan")
    expect(audit).to_contain_text(name)
    expect(audit.get_by_test_id("row").filter(has_text="Model")).not_to_have_count(0)


def test_models_are_synced_from_openrouter(browsing, admin):
    page = browsing.page(admin)
    page.goto("/admin/models")
    page.get_by_test_id("sync-models").click()
    expect(page.get_by_test_id("notice")).to_have_text(re.compile(r"^\d+ updated, \d+ unchanged, \d+ on OpenRouter but not in the catalog\.$"))
    page.get_by_test_id("console-tab-audit").click()
    expect(page.get_by_test_id("audit-table").get_by_test_id("row").first).to_contain_text("synced models")


def test_a_chatbot_picture_is_uploaded_and_saved(browsing, system, admin, tmp_path):
    picture = tmp_path / "bot.png"
    tiny_png(picture)
    page = browsing.page(admin)
    page.goto("/admin/chatbots")
    page.get_by_test_id("new-chatbot").click()
    editor = page.get_by_test_id("editor")
    name = f"Poet {uuid.uuid4().hex[:6]}"
    editor.get_by_test_id("field-name").fill(name)
    editor.get_by_test_id("field-system_prompt").fill("You answer in verse.\nAlways.")
    editor.get_by_test_id("picture-file").set_input_files(str(picture))
    expect(editor.get_by_test_id("picture")).to_have_attribute("src", re.compile(r"^/media/chatbots/[0-9a-f]{32}\.png$"))
    editor.get_by_test_id("field-subscription_type_ids").get_by_label("Basic", exact=True).check()
    editor.get_by_test_id("field-default_model_id").select_option("google/gemini-pro")
    editor.get_by_test_id("save").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    bot = next(b for b in admin.get("/api/admin/chatbots/").json() if b["name"] == name)
    assert bot["image"].startswith("/media/chatbots/") and bot["system_prompt"] == "You answer in verse.\nAlways."
    assert bot["subscription_type_ids"] == [BASIC] and bot["default_model_id"] == "google/gemini-pro"
    served = httpx.get(f"{system.gateway_url}{bot['image']}", timeout=30)
    assert served.status_code == 200 and served.content == picture.read_bytes()
    expect(page.get_by_test_id("row").filter(has_text=name).locator("img")).to_have_attribute("src", bot["image"])


def test_the_upload_route_takes_only_images_and_only_from_staff(system, admin):
    user = new_user(system)
    gif = b"GIF89a" + b"\x00" * 32
    html_as_png = admin.post("/api/admin/media/", content=b"<script>alert(1)</script>", headers={"Content-Type": "image/png"})
    assert html_as_png.status_code == 400 and "file" in html_as_png.json()["fields"]
    svg = admin.post("/api/admin/media/", content=b"<svg/>", headers={"Content-Type": "image/svg+xml"})
    assert svg.status_code == 400
    persian = admin.post("/api/admin/media/", content=b"", headers={"Accept-Language": "fa"})
    assert persian.status_code == 400 and "PNG" in persian.json()["error"] and "تصویر" in persian.json()["error"]
    assert user.post("/api/admin/media/", content=gif, headers={"Content-Type": "image/gif"}).status_code == 403
    # The type is what the bytes are, whatever the client calls them.
    saved = admin.post("/api/admin/media/", content=gif, headers={"Content-Type": "application/octet-stream"})
    assert saved.status_code == 201 and re.fullmatch(r"/media/chatbots/[0-9a-f]{32}\.gif", saved.json()["url"])
    assert httpx.get(f"{system.gateway_url}{saved.json()['url']}", timeout=30).content == gif


def test_tables_export_csv(browsing, admin):
    page = browsing.page(admin)
    page.goto("/admin/plans")
    with page.expect_download() as plans_download:
        page.get_by_test_id("plans-table-csv").click()
    rows = read_csv(plans_download.value.path())
    plans = admin.get("/api/admin/subscription-types/").json()
    assert [r["name"] for r in rows] == [p["name"] for p in plans]
    assert rows[0]["daily_max_messages"] == str(plans[0]["daily_max_messages"]) and "monthly_max_tokens" in rows[0]

    open_dashboard(page)
    with page.expect_download() as overview_download:
        page.get_by_test_id("overview-csv").click()
    assert overview_download.value.suggested_filename.startswith("overview-")
    days = read_csv(overview_download.value.path())
    assert len(days) == 7 and "messages" in days[0]
    with page.expect_download() as subs_download:
        page.get_by_test_id("subs-by-plan-csv").click()
    counts = read_csv(subs_download.value.path())
    shown = admin.get("/api/admin/reports/overview/").json()["active_subscriptions_by_plan"]
    assert [(r["plan_name"], int(r["count"])) for r in counts] == [(p["plan_name"], p["count"]) for p in shown]


def test_a_payment_is_found_by_user_and_refunded(browsing, system, admin):
    buyer = new_user(system)
    payment = pay_through_zibal(buyer, BASIC)
    page = browsing.page(admin)
    page.goto("/admin/payments")
    page.get_by_test_id("payment-user").fill(str(buyer.user_id))
    page.get_by_test_id("payment-user").press("Enter")
    expect(page.get_by_test_id("row")).to_have_count(1)
    row = page.get_by_test_id("row")
    expect(row.get_by_test_id("status")).to_have_attribute("data-status", "completed")
    row.get_by_test_id("refund").click()  # asks first, in the page
    expect(row.get_by_role("group")).to_contain_text("70,000 toman")
    row.get_by_test_id("refund-yes").click()
    expect(page.get_by_test_id("notice")).to_have_text("Refunded.")
    expect(row.get_by_test_id("status")).to_have_attribute("data-status", "refunded")
    assert buyer.get(f"/api/payments/{payment['id']}/").json()["status"] == "refunded"
    assert buyer.get("/api/users/subscription/").json()["subscription_type"]["id"] == FREE
    page.get_by_test_id("payment-status").select_option("refunded")
    expect(page.get_by_test_id("row").filter(has_text=str(buyer.user_id)).first).to_be_visible()
    page.get_by_test_id("console-tab-audit").click()
    expect(page.get_by_test_id("audit-table").get_by_test_id("row").first).to_contain_text("refunded")


def test_a_discount_code_is_created_and_switched_off(browsing, admin):
    code = f"YALDA{uuid.uuid4().hex[:5].upper()}"
    page = browsing.page(admin)
    page.goto("/admin/discounts")
    page.get_by_test_id("new-code").click()
    editor = page.get_by_test_id("editor")
    editor.get_by_test_id("field-code").fill(code)
    editor.get_by_test_id("field-discount_value").fill("15")
    editor.get_by_test_id("field-max_uses").fill("100")
    editor.get_by_test_id("field-subscription_type_ids").get_by_label("Basic", exact=True).check()
    editor.get_by_test_id("save").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    row = page.get_by_test_id("row").filter(has_text=code)
    expect(row).to_contain_text("15%")
    row.get_by_test_id("open-row").click()
    page.get_by_test_id("field-is_active").uncheck()
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    saved = next(c for c in admin.get("/api/admin/discount-codes/").json() if c["code"] == code)
    assert (saved["discount_type"], saved["discount_value"], saved["max_uses"]) == ("percentage", "15.00", 100)
    assert saved["subscription_type_ids"] == [BASIC] and saved["is_active"] is False


def test_non_staff_see_no_console_and_are_not_allowed_in(browsing, system):
    user = new_user(system)
    page = browsing.page(user)
    page.goto("/")
    expect(page.get_by_test_id("nav-plan")).to_be_visible()
    expect(page.get_by_test_id("nav-console")).to_have_count(0)
    for path in ("/admin", "/admin/users", "/admin/payments"):
        page.goto(path)
        expect(page.get_by_test_id("not-allowed")).to_be_visible()
        expect(page.get_by_role("heading", name="Staff only")).to_be_visible()
        expect(page.get_by_test_id("console")).to_have_count(0)
    fa = browsing.page(user, locale="fa-IR", viewport=PHONE)
    fa.goto("/admin")
    expect(fa.get_by_test_id("not-allowed")).to_contain_text("ویژهٔ کارکنان")
    shot(fa, "console-not-allowed-fa-phone")
    # The page is only a courtesy: the API refuses the same user.
    for route in ("/api/admin/reports/overview/", "/api/admin/audit-log/", "/api/admin/users/"):
        assert user.get(route).status_code == 403, route


def test_losing_the_staff_flag_mid_session_turns_the_console_away(browsing, system, admin):
    staff = new_user(system, name="Temp Staff")
    assert admin.post(f"/api/admin/users/{staff.user_id}/staff/", json={"is_staff": True}).status_code == 200
    page = browsing.page(staff)
    page.goto("/admin/plans")
    expect(page.get_by_test_id("plans-table")).to_be_visible()
    assert admin.post(f"/api/admin/users/{staff.user_id}/staff/", json={"is_staff": False}).status_code == 200
    page.get_by_test_id("console-tab-payments").click()  # the page still thinks so; the API does not
    expect(page.get_by_test_id("not-allowed")).to_be_visible()


def test_console_screens_have_no_serious_accessibility_violations(browsing, admin):
    found = {}
    for locale, scheme in (("en-US", "light"), ("fa-IR", "dark")):
        page = browsing.page(admin, locale=locale, scheme=scheme)
        open_dashboard(page)
        page.get_by_test_id("chart-revenue").locator("svg").wait_for()
        found[f"dashboard {locale} {scheme}"] = _axe(page)
        page.goto("/admin/plans")
        page.get_by_test_id("open-row").first.click()
        page.get_by_test_id("limits").wait_for()
        found[f"plan editor {locale} {scheme}"] = _axe(page)
        page.goto("/admin/users")
        page.get_by_test_id("open-row").first.click()
        page.get_by_test_id("user-usage").wait_for()
        found[f"users {locale} {scheme}"] = _axe(page)
    assert {screen: v for screen, v in found.items() if v} == {}


def test_screenshots_of_the_console(browsing, system, admin):
    user = new_user(system, name="Sara Ahmadi")
    session = create_session(user)
    for n in range(2):
        exchange(user, session["id"], f"Hello {n} [[reply:words=20]]")
    assert user.get("/api/users/subscription/").json()["subscription_type"]["id"] == FREE
    pay_through_zibal(user, BASIC)
    screens = ("plans", "models", "chatbots", "users", "discounts", "payments", "audit")
    for lang, locale, size, viewport, scheme in (("en", "en-US", "desktop", DESKTOP, "light"), ("fa", "fa-IR", "phone", PHONE, "dark")):
        page = browsing.page(admin, locale=locale, viewport=viewport, scheme=scheme)
        page.add_init_script("localStorage.setItem('mobix.console.usdRate', '60000')")
        open_dashboard(page)
        page.get_by_test_id("chart-revenue").locator("svg").wait_for()
        shot(page, f"console-dashboard-{lang}-{size}")
        page.get_by_test_id("chart-cost-revenue").scroll_into_view_if_needed()
        shot(page, f"console-dashboard-charts-{lang}-{size}")
        page.get_by_test_id("top-users").scroll_into_view_if_needed()
        shot(page, f"console-dashboard-tops-{lang}-{size}")
        for screen in screens:
            page.goto(f"/admin/{screen}")
            page.locator(".console-table, .console-table + *").first.wait_for()
            shot(page, f"console-{screen}-{lang}-{size}")
        page.goto("/admin/plans")
        page.get_by_test_id("open-row").nth(1).click()
        page.get_by_test_id("limits").scroll_into_view_if_needed()
        shot(page, f"console-plan-editor-{lang}-{size}")
        page.goto("/admin/users")
        page.get_by_test_id("user-search").fill(user.phone[-7:])
        page.get_by_test_id("user-search-submit").click()
        expect(page.get_by_test_id("row")).to_have_count(1)
        page.get_by_test_id("open-row").click()
        page.get_by_test_id("user-usage").wait_for()
        shot(page, f"console-user-{lang}-{size}")
