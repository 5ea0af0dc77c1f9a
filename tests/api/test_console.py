"""The operator console's API: reports that billing computes from its ledger, checked against figures
this test computes itself from the same rows (seeded straight into billing's database over several
days, plans, models and currencies, plus a real exchange and a real Zibal payment); staff only; the
audit log of every kind of staff change; the model sync from OpenRouter's list (the emulator's)."""

import asyncio
import csv
import io
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest
from billing.models import Payment, Plan, Reservation, Subscription, UsageLedger
from sqlalchemy import insert, select

from shared.db import make_engine
from tests.api.harness import BASIC, FREE, PREMIUM, create_session, exchange, new_user

FIRST = date(2025, 3, 10)  # the seeded days: nothing else happened then
LAST = FIRST + timedelta(days=4)
NOT_STAFF = {"detail": "You do not have permission to perform this action."}
CONSOLE_ROUTES = [
    ("GET", "/api/admin/reports/overview/"),
    ("GET", "/api/admin/reports/overview/?format=csv"),
    ("GET", "/api/admin/reports/top-users/"),
    ("GET", "/api/admin/reports/top-users/?format=csv"),
    ("GET", "/api/admin/reports/top-models/"),
    ("GET", "/api/admin/reports/top-models/?format=csv"),
    ("GET", "/api/admin/audit-log/"),
    ("GET", "/api/admin/audit-log/?format=csv"),
    ("GET", "/api/admin/users/1/usage/"),
    ("POST", "/api/admin/ai-models/sync/"),
]


# --- billing's database, read and written by the test ---------------------------------------------


def in_billing(system, work):
    """Run `work(conn)` on billing's own database (a connection in a transaction)."""

    async def run():
        engine = make_engine(system.database_urls["billing"])
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def rows(system, model) -> list[dict]:
    async def read(conn):
        return [dict(r) for r in (await conn.execute(select(model.__table__))).mappings().all()]

    return in_billing(system, read)


def at(day: date, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=UTC)


def ledger_row(user_id: int, created: datetime, model: str, *, kind: str = "exchange", free: bool = False,
               stopped: bool = False, prompt: int = 10, completion: int = 20, cost_nano: int = 1_000,
               exchange_id: uuid.UUID | None = None) -> dict:
    return dict(exchange_id=exchange_id or uuid.uuid4(), user_id=user_id, session_id=1, kind=kind, model=model,
                is_free_model=free, prompt_tokens=prompt, completion_tokens=completion, tokens=prompt + completion,
                effective_tokens=prompt + completion, cost_usd=Decimal(cost_nano) / 10**9, cost_nano=cost_nano,
                had_image=False, stopped=stopped, subscription_id=None, admitted_at=created, created_at=created)


def reservation_row(user_id: int, released: datetime | None, reason: str | None,
                    exchange_id: uuid.UUID | None = None) -> dict:
    return dict(exchange_id=exchange_id or uuid.uuid4(), user_id=user_id, session_id=1, subscription_id=1,
                model="openai/gpt-4-turbo", is_free_model=False, token_cost_multiplier=Decimal(1), prompt_tokens=5,
                max_tokens=100, reserved_tokens=105, reserved_cost_nano=0, is_image=False,
                admitted_at=released or at(FIRST, 1), expires_at=(released or at(FIRST, 1)) + timedelta(minutes=15),
                status="open" if reason is None else "released", release_reason=reason, released_at=released)


def payment_row(user_id: int, plan_id: int, status: str, amount: str, currency: str, completed: datetime | None,
                settled: datetime | None = None) -> dict:
    money = Decimal(amount)
    return dict(id=uuid.uuid4(), user_id=user_id, plan_id=plan_id, status=status, original_amount=money,
                credit_amount=Decimal(0), discount_amount=Decimal(0), amount=money, currency=currency,
                provider="zibal", provider_ref=f"seed-{uuid.uuid4().hex[:12]}", created_at=completed or at(FIRST, 0),
                completed_at=completed, settled_at=settled or completed)


def seed(system, heavy: int, light: int) -> None:
    """Several days, plans, models, currencies; every kind of row the reports count or must not count."""
    models = ("openai/gpt-4-turbo", "google/gemini-pro", "retired/model-no-longer-listed")
    ledger = []
    for n in range(60):
        day = FIRST + timedelta(days=n % 5)
        ledger.append(ledger_row(
            (heavy, light, 999_999)[n % 3], at(day, n % 24, n % 60, 7), models[n % 3],
            kind="title" if n % 10 == 9 else "exchange", free=models[n % 3] == "google/gemini-pro",
            stopped=n % 7 == 0, prompt=10 + n, completion=3 * n, cost_nano=1_234 * (n + 1) + (n % 3) * 500_000,
        ))
    # the edges of the range: the last microsecond of the last day is in, the first one after is out
    ledger.append(ledger_row(heavy, at(LAST, 23, 59, 59, 999_000), models[0], cost_nano=77))
    ledger.append(ledger_row(heavy, at(LAST + timedelta(days=1), 0), models[0], cost_nano=10**9))
    ledger.append(ledger_row(heavy, at(FIRST - timedelta(days=1), 23, 59, 59), models[0], cost_nano=10**9))
    billed_late = uuid.uuid4()  # failed, then completed after all: billed, so not a failed reply
    ledger.append(ledger_row(light, at(FIRST + timedelta(days=2), 12), models[0], exchange_id=billed_late))
    reservations = [
        reservation_row(heavy, at(FIRST, 3), "failed"),
        reservation_row(light, at(FIRST, 4), "failed"),
        reservation_row(heavy, at(FIRST + timedelta(days=2), 5), "timed_out"),
        reservation_row(light, at(FIRST + timedelta(days=2), 6), "failed", exchange_id=billed_late),
        reservation_row(heavy, at(FIRST + timedelta(days=3), 7), "abandoned"),  # never a reply
        reservation_row(heavy, at(FIRST + timedelta(days=3), 8), "released"),
        reservation_row(heavy, at(LAST + timedelta(days=1), 0, 0, 1), "failed"),  # after the range
        reservation_row(heavy, None, None),  # still open
    ]
    payments = [
        payment_row(heavy, BASIC, "completed", "70000", "IRT", at(FIRST, 9)),
        payment_row(light, BASIC, "completed", "70000.50", "IRT", at(FIRST, 23, 59, 59)),
        payment_row(heavy, PREMIUM, "completed", "9.99", "USD", at(FIRST + timedelta(days=1), 10)),
        payment_row(light, PREMIUM, "refunded", "150000", "IRT", at(FIRST + timedelta(days=1), 11),
                    settled=at(FIRST + timedelta(days=3), 12)),
        payment_row(light, BASIC, "pending", "70000", "IRT", None),
        payment_row(light, BASIC, "failed", "70000", "IRT", None, settled=at(FIRST + timedelta(days=2), 1)),
        payment_row(heavy, BASIC, "completed", "1", "IRT", at(LAST + timedelta(days=1), 0)),  # after the range
    ]

    async def write(conn):
        await conn.execute(insert(UsageLedger.__table__), ledger)
        await conn.execute(insert(Reservation.__table__), reservations)
        await conn.execute(insert(Payment.__table__), payments)

    in_billing(system, write)


# --- the figures, computed here from the rows -----------------------------------------------------


def usd(nano: int) -> str:
    return str((Decimal(nano) / 10**9).quantize(Decimal("0.000001"), ROUND_HALF_UP))


def cents(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


def utc_day(moment: datetime) -> date:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()


def expected_overview(system, first: date, last: date, currency: str = "IRT") -> dict:
    ledger, reservations, payments = rows(system, UsageLedger), rows(system, Reservation), rows(system, Payment)
    plans = {p["id"]: p["name"] for p in rows(system, Plan)}
    billed = {r["exchange_id"] for r in ledger}
    days = {first + timedelta(days=n): defaultdict(int) for n in range((last - first).days + 1)}
    for day in days.values():
        day["revenue"], day["refunded"] = defaultdict(Decimal), defaultdict(Decimal)
    for r in ledger:
        day = days.get(utc_day(r["created_at"]))
        if day is None:
            continue
        exchange_row = r["kind"] == "exchange"
        day["messages"] += exchange_row
        day["prompt_tokens"] += r["prompt_tokens"]
        day["completion_tokens"] += r["completion_tokens"]
        day["tokens"] += r["tokens"]
        day["cost_nano"] += r["cost_nano"]
        day["free_model_messages"] += exchange_row and r["is_free_model"]
        day["stopped_replies"] += exchange_row and r["stopped"]
    for r in reservations:
        if r["released_at"] is None or r["release_reason"] not in ("failed", "timed_out") or r["exchange_id"] in billed:
            continue
        if (day := days.get(utc_day(r["released_at"]))) is not None:
            day["failed_replies"] += 1
    by_plan = defaultdict(lambda: [Decimal(0), 0])
    for r in payments:
        if r["status"] in ("completed", "refunded") and (day := days.get(utc_day(r["completed_at"]))) is not None:
            day["payments"] += 1
            day["revenue"][r["currency"]] += r["amount"]
            by_plan[(r["plan_id"], r["currency"])][0] += r["amount"]
            by_plan[(r["plan_id"], r["currency"])][1] += 1
        if r["status"] == "refunded" and (day := days.get(utc_day(r["settled_at"]))) is not None:
            day["refunds"] += 1
            day["refunded"][r["currency"]] += r["amount"]

    def shaped(f: dict) -> dict:
        money = {key: {currency: cents(f[key].get(currency, Decimal(0))),
                       **{c: cents(a) for c, a in sorted(f[key].items()) if c != currency}}
                 for key in ("revenue", "refunded")}
        counts = {k: int(f[k]) for k in ("payments", "refunds", "messages", "prompt_tokens", "completion_tokens",
                                         "tokens", "free_model_messages", "failed_replies", "stopped_replies")}
        return {**money, **counts, "provider_cost_usd": usd(f["cost_nano"])}

    total = defaultdict(int, revenue=defaultdict(Decimal), refunded=defaultdict(Decimal))
    for f in days.values():
        for key, value in f.items():
            if key in ("revenue", "refunded"):
                for c, a in value.items():
                    total[key][c] += a
            else:
                total[key] += value
    return {
        "from": first.isoformat(), "to": last.isoformat(), "currency": currency, "totals": shaped(total),
        "days": [{"date": d.isoformat(), **shaped(f)} for d, f in days.items()],
        "revenue_by_plan": [{"plan_id": pid, "plan_name": plans[pid], "currency": cur, "revenue": cents(v[0]),
                             "payments": v[1]} for (pid, cur), v in sorted(by_plan.items())],
    }


def expected_active(system) -> list[dict]:
    now = datetime.now(UTC)
    counts = defaultdict(int)
    for r in rows(system, Subscription):
        end = r["end_date"]
        if r["is_active"] and (end is None or (end if end.tzinfo else end.replace(tzinfo=UTC)) > now):
            counts[r["plan_id"]] += 1
    return [{"plan_id": p["id"], "plan_name": p["name"], "count": counts[p["id"]]}
            for p in sorted(rows(system, Plan), key=lambda p: p["id"])]


def expected_top(system, first: date, last: date, key: str) -> list[dict]:
    totals = defaultdict(lambda: {"messages": 0, "tokens": 0, "cost_nano": 0, "free": False})
    for r in rows(system, UsageLedger):
        if first <= utc_day(r["created_at"]) <= last:
            t = totals[r[key]]
            t["messages"] += r["kind"] == "exchange"
            t["tokens"] += r["tokens"]
            t["cost_nano"] += r["cost_nano"]
            t["free"] = t["free"] or r["is_free_model"]
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1]["cost_nano"], -kv[1]["messages"], kv[0]))
    return [{key: k, "messages": v["messages"], "tokens": v["tokens"], "provider_cost_usd": usd(v["cost_nano"]),
             "free": v["free"]} for k, v in ranked]


def without_active(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "active_subscriptions_by_plan"}


# --- helpers through the API ----------------------------------------------------------------------


def zibal_payment(system, client, plan: int = BASIC) -> dict:
    """Checkout, pay on the Zibal emulator's page, come back: the payment completes."""
    created = client.post("/api/payments/checkout/", json={"subscription_type_id": plan})
    assert created.status_code == 201, created.text
    payment = created.json()
    page = httpx.get(payment["redirect_url"], params={"outcome": "paid"}, timeout=30)
    assert page.status_code == 302, page.text
    back = client.get(page.headers["location"], follow_redirects=False)
    assert back.status_code == 302, back.text
    return payment


def audit_after(admin, marker: int) -> list[dict]:
    """The entries written after entry `marker`, oldest first."""
    entries = admin.get("/api/admin/audit-log/", params={"limit": 200}).json()["results"]
    return [e for e in reversed(entries) if e["id"] > marker]


def last_audit_id(admin) -> int:
    results = admin.get("/api/admin/audit-log/", params={"limit": 1}).json()["results"]
    return results[0]["id"] if results else 0


# --- staff only -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), CONSOLE_ROUTES)
def test_ordinary_users_get_403_on_every_console_route(user, method, url):
    response = user.request(method, url)
    assert response.status_code == 403, response.text
    assert response.json() == NOT_STAFF


@pytest.mark.parametrize(("method", "url"), CONSOLE_ROUTES)
def test_anonymous_callers_get_401_on_every_console_route(system, method, url):
    response = httpx.request(method, system.gateway_url + url, timeout=30)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(("query", "field"), [
    ({"from": "2026-12-05", "to": "2026-12-01"}, "from"),
    ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days
    ({"from": "2026-02-30"}, "from"),
    ({"from": "2026-2-3"}, "from"),
    ({"to": "1999-12-31"}, "to"),
    ({"to": "9999-12-31"}, "to"),
    ({"from": "yesterday"}, "from"),
])
def test_bad_ranges_are_a_clear_400(admin, query, field):
    for path in ("overview", "top-users", "top-models"):
        response = admin.get(f"/api/admin/reports/{path}/", params=query)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["code"] == "validation_error" and field in response.json()["fields"], response.text
    persian = admin.get("/api/admin/reports/overview/", params=query, headers={"Accept-Language": "fa"})
    assert persian.status_code == 400 and not persian.json()["error"].isascii()


def test_a_range_of_366_days_and_the_default_range(admin):
    assert admin.get("/api/admin/reports/overview/", params={"from": "2025-01-01", "to": "2026-01-01"}).status_code == 200
    default = admin.get("/api/admin/reports/overview/").json()
    today = datetime.now(UTC).date()
    assert default["to"] == today.isoformat() and default["from"] == (today - timedelta(days=29)).isoformat()
    assert len(default["days"]) == 30 and next(iter(default["days"][0])) == "date"
    assert admin.get("/api/admin/reports/top-users/", params={"limit": 0}).status_code == 400
    assert admin.get("/api/admin/reports/top-users/", params={"limit": 101}).status_code == 400


# --- the reports against the ledger ---------------------------------------------------------------


def test_reports_match_the_ledger_rows_exactly(system, admin):
    heavy, light = new_user(system), new_user(system)
    seed(system, heavy.user_id, light.user_id)
    window = {"from": FIRST.isoformat(), "to": LAST.isoformat()}

    overview = admin.get("/api/admin/reports/overview/", params=window)
    assert overview.status_code == 200, overview.text
    report = overview.json()
    assert without_active(report) == expected_overview(system, FIRST, LAST)
    assert report["active_subscriptions_by_plan"] == expected_active(system)
    # the seeded figures are not all zero: the comparison above says something
    totals = report["totals"]
    assert totals["failed_replies"] == 3 and totals["refunds"] == 1 and totals["refunded"] == {"IRT": "150000.00"}
    assert totals["revenue"] == {"IRT": "290000.50", "USD": "9.99"} and totals["payments"] == 4
    assert totals["stopped_replies"] > 0 and totals["free_model_messages"] > 0 and totals["messages"] == 56

    users = admin.get("/api/admin/reports/top-users/", params={**window, "limit": 100}).json()["results"]
    phones = {heavy.user_id: heavy.phone, light.user_id: light.phone, 999_999: None}
    assert users == [{"user_id": t["user_id"], "phone_number": phones[t["user_id"]], "messages": t["messages"],
                      "tokens": t["tokens"], "provider_cost_usd": t["provider_cost_usd"]}
                     for t in expected_top(system, FIRST, LAST, "user_id")]
    assert len(admin.get("/api/admin/reports/top-users/", params={**window, "limit": 2}).json()["results"]) == 2

    catalog = {m["model_id"]: m for m in admin.get("/api/admin/ai-models/").json()}
    models = admin.get("/api/admin/reports/top-models/", params=window).json()["results"]
    assert models == [
        {"ai_model_id": catalog[t["model"]]["id"] if t["model"] in catalog else None, "model_id": t["model"],
         "model_name": catalog[t["model"]]["name"] if t["model"] in catalog else t["model"],
         "is_free": catalog[t["model"]]["is_free"] if t["model"] in catalog else t["free"],
         "messages": t["messages"], "tokens": t["tokens"], "provider_cost_usd": t["provider_cost_usd"]}
        for t in expected_top(system, FIRST, LAST, "model")
    ]
    assert {m["model_id"] for m in models} == {"openai/gpt-4-turbo", "google/gemini-pro", "retired/model-no-longer-listed"}


def test_csv_has_one_row_per_item(admin):
    window = {"from": FIRST.isoformat(), "to": LAST.isoformat(), "format": "csv"}
    response = admin.get("/api/admin/reports/overview/", params=window)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="overview-{FIRST}-{LAST}.csv"'
    table = list(csv.DictReader(io.StringIO(response.text)))
    days = admin.get("/api/admin/reports/overview/", params={k: v for k, v in window.items() if k != "format"}).json()
    assert [r["date"] for r in table] == [d["date"] for d in days["days"]]
    assert [r["messages"] for r in table] == [str(d["messages"]) for d in days["days"]]
    assert [r["revenue_IRT"] for r in table] == [d["revenue"]["IRT"] for d in days["days"]]
    users = admin.get("/api/admin/reports/top-users/", params=window)
    assert users.headers["content-disposition"] == f'attachment; filename="top-users-{FIRST}-{LAST}.csv"'
    assert next(csv.reader(io.StringIO(users.text))) == ["user_id", "phone_number", "messages", "tokens",
                                                         "provider_cost_usd"]


def test_a_real_exchange_and_a_zibal_payment_show_in_todays_figures(system, admin):
    today = datetime.now(UTC).date().isoformat()
    window = {"from": today, "to": today}
    before = admin.get("/api/admin/reports/overview/", params=window).json()["totals"]
    buyer = new_user(system)
    payment = zibal_payment(system, buyer)
    session = create_session(buyer)
    exchange(buyer, session["id"], "Count me in the dashboard")

    day = date.fromisoformat(today)
    deadline = time.monotonic() + 30
    while True:  # billing commits the exchange (and later its title) a moment after the reply is stored
        expected = expected_overview(system, day, day)
        report = admin.get("/api/admin/reports/overview/", params=window).json()
        settled = expected == expected_overview(system, day, day)  # nothing landed while we read
        if settled and without_active(report) == expected and expected["totals"]["messages"] > before["messages"]:
            break
        assert time.monotonic() < deadline, (report, expected)
        time.sleep(0.2)
    totals = report["totals"]
    assert totals["messages"] >= before["messages"] + 1 and totals["payments"] == before["payments"] + 1
    assert Decimal(totals["revenue"]["IRT"]) == Decimal(before["revenue"]["IRT"]) + Decimal(payment["amount"])
    top = admin.get("/api/admin/reports/top-users/", params={**window, "limit": 100}).json()["results"]
    assert buyer.user_id in {u["user_id"] for u in top}
    assert next(u for u in top if u["user_id"] == buyer.user_id)["phone_number"] == buyer.phone


def test_a_staff_user_reads_anyones_usage(system, admin, user):
    session = create_session(user)
    exchange(user, session["id"], "Usage seen by staff")
    deadline = time.monotonic() + 30
    while True:
        mine = user.get("/api/users/usage/").json()
        staff_view = admin.get(f"/api/admin/users/{user.user_id}/usage/")
        assert staff_view.status_code == 200, staff_view.text
        if staff_view.json() == mine and next(r for r in mine["limits"] if r["name"] == "daily_messages")["used"]:
            break
        assert time.monotonic() < deadline, (mine, staff_view.json())
        time.sleep(0.1)
    assert mine["subscription_type_id"] == FREE
    assert admin.get("/api/admin/users/99999999/usage/").status_code == 404


# --- the audit log --------------------------------------------------------------------------------


def test_every_kind_of_staff_change_is_recorded_once(system, admin):
    marker = last_audit_id(admin)
    staff_id = admin.get("/api/users/").json()["id"]
    tag = uuid.uuid4().hex[:6]
    # refused or failed changes first: none may leave an entry
    assert admin.post("/api/admin/subscription-types/", json={"sku": "NO_NAME"}).status_code == 400
    assert admin.delete("/api/admin/subscription-types/1/").status_code == 409
    assert admin.patch("/api/admin/ai-models/99999/", json={"is_free": True}).status_code == 404
    assert admin.post("/api/admin/users/99999999/staff/", json={"is_staff": True}).status_code == 404
    ordinary = new_user(system)
    assert ordinary.post("/api/admin/chatbots/", json={"name": "Sneaky"}).status_code == 403
    assert audit_after(admin, marker) == []

    plan = admin.post("/api/admin/subscription-types/", json={"name": f"Audit {tag}", "sku": f"AUDIT_{tag}",
                                                              "price": "1000"}).json()
    admin.patch(f"/api/admin/subscription-types/{plan['id']}/", json={"hourly_max_messages": 9, "price": "1200"})
    model = admin.post("/api/admin/ai-models/", json={"name": f"Audit {tag}", "model_id": f"audit/{tag}"}).json()
    admin.patch(f"/api/admin/ai-models/{model['id']}/", json={"context_tokens": 64_000})
    bot = admin.post("/api/admin/chatbots/", json={"name": f"Audit {tag}"}).json()
    admin.patch(f"/api/admin/chatbots/{bot['id']}/", json={"system_prompt": "Be brief."})
    code = admin.post("/api/admin/discount-codes/", json={"code": f"AUDIT-{tag}", "discount_type": "percentage",
                                                          "discount_value": "10"}).json()
    admin.patch(f"/api/admin/discount-codes/{code['id']}/", json={"max_uses": 5})
    assert admin.post(f"/api/admin/users/{ordinary.user_id}/subscription/",
                      json={"subscription_type_id": PREMIUM}).status_code == 200
    assert admin.post(f"/api/admin/users/{ordinary.user_id}/staff/", json={"is_staff": True}).status_code == 200
    assert admin.post(f"/api/admin/users/{ordinary.user_id}/staff/", json={"is_staff": False}).status_code == 200
    buyer = new_user(system)
    paid = zibal_payment(system, buyer)
    assert admin.post(f"/api/admin/payments/{paid['id']}/refund/").status_code == 200
    assert admin.delete(f"/api/admin/discount-codes/{code['id']}/").status_code == 204
    assert admin.delete(f"/api/admin/chatbots/{bot['id']}/").status_code == 204
    assert admin.delete(f"/api/admin/ai-models/{model['id']}/").status_code == 204
    assert admin.delete(f"/api/admin/subscription-types/{plan['id']}/").status_code == 204

    entries = audit_after(admin, marker)
    assert [(e["action"], e["object_type"], e["object_id"]) for e in entries] == [
        ("create", "plan", str(plan["id"])), ("update", "plan", str(plan["id"])),
        ("create", "ai_model", str(model["id"])), ("update", "ai_model", str(model["id"])),
        ("create", "chatbot", str(bot["id"])), ("update", "chatbot", str(bot["id"])),
        ("create", "discount_code", str(code["id"])), ("update", "discount_code", str(code["id"])),
        ("change_plan", "user", str(ordinary.user_id)),
        ("set_staff", "user", str(ordinary.user_id)), ("set_staff", "user", str(ordinary.user_id)),
        ("refund", "payment", paid["id"]),
        ("delete", "discount_code", str(code["id"])), ("delete", "chatbot", str(bot["id"])),
        ("delete", "ai_model", str(model["id"])), ("delete", "plan", str(plan["id"])),
    ]
    assert all(e["actor_id"] == staff_id and e["actor_phone"] for e in entries)
    assert all(e["at"].endswith("Z") and e["summary"] for e in entries)
    by_kind = {(e["action"], e["object_type"]): e["changes"] for e in entries}
    assert by_kind[("update", "plan")] == {"hourly_max_messages": [0, 9], "price": ["1000.00", "1200.00"]}
    assert by_kind[("create", "plan")]["price"] == [None, "1000.00"]
    assert by_kind[("update", "ai_model")] == {"context_tokens": [16_000, 64_000]}
    assert by_kind[("update", "chatbot")] == {"system_prompt": ["", "Be brief."]}
    assert by_kind[("update", "discount_code")] == {"max_uses": [None, 5]}
    assert by_kind[("change_plan", "user")]["subscription_type_id"] == [FREE, PREMIUM]
    assert [e["changes"] for e in entries if e["action"] == "set_staff"] == [{"is_staff": [False, True]},
                                                                            {"is_staff": [True, False]}]
    assert by_kind[("refund", "payment")] == {"status": ["completed", "refunded"]}
    assert by_kind[("create", "ai_model")]["model_id"] == [None, f"audit/{tag}"]
    assert by_kind[("delete", "chatbot")]["name"] == [f"Audit {tag}", None]


def test_the_audit_log_pages_by_keyset_and_filters(system, admin):
    tag = uuid.uuid4().hex[:6]
    for n in range(3):
        assert admin.post("/api/admin/chatbots/", json={"name": f"Paged {tag} {n}"}).status_code == 201
    first = admin.get("/api/admin/audit-log/", params={"limit": 2, "object_type": "chatbot"}).json()
    assert len(first["results"]) == 2 and first["has_more"] is True
    assert [e["summary"].endswith(f"(Paged {tag} {n})") for e, n in zip(first["results"], (2, 1), strict=True)] == [True] * 2
    ids = [e["id"] for e in first["results"]]
    assert ids == sorted(ids, reverse=True)
    nxt = admin.get("/api/admin/audit-log/", params={"limit": 2, "object_type": "chatbot", "before": ids[-1]}).json()
    assert nxt["results"][0]["summary"].endswith(f"(Paged {tag} 0)") and nxt["results"][0]["id"] < ids[-1]
    staff_id = admin.get("/api/users/").json()["id"]
    mine = admin.get("/api/admin/audit-log/", params={"actor_id": staff_id, "limit": 200}).json()["results"]
    assert mine and all(e["actor_id"] == staff_id for e in mine)
    assert admin.get("/api/admin/audit-log/", params={"actor_id": 99_999}).json() == {"results": [], "has_more": False}
    for bad in ({"limit": 0}, {"limit": 201}, {"before": 0}, {"object_type": "session"}, {"before": "x"}):
        assert admin.get("/api/admin/audit-log/", params=bad).status_code == 400, bad
    table = admin.get("/api/admin/audit-log/", params={"limit": 3, "object_type": "chatbot", "format": "csv"})
    assert table.status_code == 200 and table.headers["content-type"] == "text/csv; charset=utf-8"
    parsed = list(csv.DictReader(io.StringIO(table.text)))
    assert [int(r["id"]) for r in parsed] == [e["id"] for e in first["results"]] + [nxt["results"][0]["id"]]


def test_csv_cells_cannot_run_as_formulas(system, admin):
    name = '=HYPERLINK("http://evil.example","open")'
    slug = f"formula/{uuid.uuid4().hex[:6]}"
    assert admin.post("/api/admin/ai-models/", json={"name": name, "model_id": slug}).status_code == 201
    day = FIRST - timedelta(days=30)
    in_billing(system, lambda conn: conn.execute(insert(UsageLedger.__table__), [ledger_row(1, at(day, 12), slug)]))
    table = admin.get("/api/admin/reports/top-models/", params={"from": day.isoformat(), "to": day.isoformat(), "format": "csv"}).text
    row = next(csv.DictReader(io.StringIO(table)))
    assert row["model_id"] == slug and row["model_name"] == "'" + name
    audit = next(csv.DictReader(io.StringIO(admin.get("/api/admin/audit-log/", params={"format": "csv"}).text)))
    assert audit["actor_phone"].startswith("+98")  # a phone number stays a number


# --- the model sync (last: it renames the seed catalog, so the system is discarded after it) -------


def test_sync_from_openrouter_fills_the_catalog_once_and_502_when_it_fails(system, admin, slot):
    try:
        listed = {m["id"]: m for m in httpx.get(f"{system.emulator_url}/api/v1/models", timeout=30).json()["data"]}
        local = admin.post("/api/admin/ai-models/", json={
            "name": "Llama local name", "model_id": "meta-llama/llama-3.1-70b-instruct", "context_tokens": 8_192,
            "max_reply_tokens": 4_096, "prompt_price_usd_per_mtok": "0.5"}).json()
        marker = last_audit_id(admin)
        response = admin.post("/api/admin/ai-models/sync/")
        assert response.status_code == 200, response.text
        synced = response.json()
        llama = listed["meta-llama/llama-3.1-70b-instruct"]
        per_mtok = str((Decimal(llama["pricing"]["prompt"]) * 10**6).quantize(Decimal("0.000001")))
        ours = next(u for u in synced["updated"] if u["id"] == local["id"])
        assert ours == {"id": local["id"], "openrouter_id": "meta-llama/llama-3.1-70b-instruct", "changes": {
            "name": ["Llama local name", llama["name"]], "context_tokens": [8_192, llama["context_length"]],
            "prompt_price_usd_per_mtok": ["0.500000", per_mtok],
            "completion_price_usd_per_mtok": [None, per_mtok],
            "max_reply_tokens": [4_096, llama["top_provider"]["max_completion_tokens"]]}}
        now = admin.get(f"/api/admin/ai-models/{local['id']}/").json()
        assert now["name"] == llama["name"] and now["context_tokens"] == llama["context_length"]
        assert Decimal(now["prompt_price_usd_per_mtok"]) == Decimal(per_mtok)
        assert now["max_reply_tokens"] == llama["top_provider"]["max_completion_tokens"]
        catalog = {m["model_id"] for m in admin.get("/api/admin/ai-models/").json()}
        assert synced["not_in_catalog"] == sorted(set(listed) - catalog)
        matched = len(set(listed) & catalog)
        assert len(synced["updated"]) + synced["unchanged"] == matched

        again = admin.post("/api/admin/ai-models/sync/").json()  # idempotent
        assert again == {"updated": [], "unchanged": matched, "not_in_catalog": synced["not_in_catalog"]}
        entries = audit_after(admin, marker)
        assert [(e["action"], e["object_type"]) for e in entries] == [("sync_models", "ai_model")] * 2
        assert entries[0]["changes"]["meta-llama/llama-3.1-70b-instruct.context_tokens"] == [8_192, 131_072]
        assert entries[1]["changes"] == {}

        marker = last_audit_id(admin)
        httpx.post(f"{system.emulator_url}/_emulator/faults", json={"faults": ["http_503"]}, timeout=30)
        failed = admin.post("/api/admin/ai-models/sync/", headers={"Accept-Language": "en"})
        assert failed.status_code == 502
        assert failed.json() == {"error": "OpenRouter answered 503 to the model list.", "code": "upstream_error"}
        assert audit_after(admin, marker) == []  # a failed sync changed nothing and records nothing
        assert admin.get(f"/api/admin/ai-models/{local['id']}/").json() == now
    finally:
        slot.discard()  # the seed catalog's names changed: the next test gets a fresh system
