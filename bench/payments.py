"""`python -m bench.payments [--latency N] [--soak N]`: selling plans, measured and soaked on the whole
system as real processes (gateway, billing, …, the Zibal emulator and localstripe as `make run` starts
them; SQLite databases, so the end state is read straight from billing's tables).

- **Latency**: N payments through the Zibal emulator, one at a time, as a browser makes them: checkout,
  the emulator's page (`?outcome=paid`), its 302 to the gateway's callback (billing verifies with Zibal,
  completes the payment and opens the period), until `GET /api/users/subscription/` shows the new
  period. p50/p95/max of checkout → activation.
- **Soak**: N payments, several at once, each by a new user and drawn from a seeded mix: Zibal paid, cancelled,
  failed or abandoned, with injected faults (slow answers below and above billing's timeout, HTTP
  errors on request/verify/inquiry, a verify that takes the money and answers too late, a callback
  delivered twice), and Stripe paid by card with the signed webhook delivered again and again.
  Faults queue in the emulator and hit whichever call comes next, as a provider's would. Billing
  reconciles every 2 s. At the end, against billing's database and the providers' own records: every
  payment a provider took money for is completed, no other is, and each completed payment opened
  exactly one period (payments = activations: nothing lost, nothing doubled).

Every payment is made by a new user on the free plan: a second purchase of a paid plan would be
paid mostly by the upgrade credit for the first (payments.md), down to nothing.

tests/payments/test_payment_soak.py runs the soak under `--soak`.
"""

import argparse
import hashlib
import hmac
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from devinfra.system import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    STRIPE_WEBHOOK_SECRET,
    System,
    read_code,
)

from bench.servers import bench_servers

BASIC = 2  # the seeded IRT plan sold through Zibal
WEBHOOK = "/api/payments/webhook/stripe/"
VISA = "4242424242424242"
ZIBAL_TIMEOUT = 2  # billing's whole-answer deadline for a Zibal call, in seconds
SERVICE_ENV = {"ZIBAL_TIMEOUT_SECONDS": str(ZIBAL_TIMEOUT), "PAYMENT_RECONCILE_SECONDS": "2",
               "PLAN_CACHE_SECONDS": "300", "LOG_LEVEL": "WARNING"}
ZIBAL_PAID = {1, 2}  # the track's money was taken: verified, or paid and not yet verified
# The soak's mix: scenario → weight.
MIX = {
    "zibal paid": 20, "zibal cancelled": 6, "zibal failed": 4, "zibal abandoned": 4,
    "zibal callback twice": 6, "zibal slow request": 4, "zibal request error": 4, "zibal request too slow": 2,
    "zibal slow verify": 6, "zibal verify error": 6, "zibal verify times out after taking the money": 8,
    "zibal verify and inquiry error": 4, "stripe paid, webhook delivered again": 18, "stripe abandoned": 2,
}


def say(message: str) -> None:
    print(f"[payments] {message}", file=sys.stderr, flush=True)


class User:
    """A logged-in browser: cookies and the CSRF header."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)

    def call(self, method: str, path: str, **kw) -> httpx.Response:
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken") or ""} if method != "GET" else {}
        return self.http.request(method, path, headers=headers, **kw)

    def register(self, system: System, phone: str) -> int:
        self.http.get("/api/auth/csrf/")
        answer = self.call("POST", "/api/auth/register/",
                           json={"phone_number": phone, "name": "Payments Bench", "password": "bench password 1"})
        assert answer.status_code == 202, answer.text
        code = read_code(system.sms_url, phone)
        verified = self.call("POST", "/api/auth/otp/verify/", json={
            "phone_number": phone, "code": code, "registration_id": answer.json()["registration_id"]})
        assert verified.status_code == 200, verified.text
        return verified.json()["id"]

    def login_admin(self) -> None:
        self.http.get("/api/auth/csrf/")
        answer = self.call("POST", "/api/auth/login/", json={"phone_number": ADMIN_PHONE, "password": ADMIN_PASSWORD})
        assert answer.status_code == 200, answer.text

    def period_start(self) -> str:
        return self.call("GET", "/api/users/subscription/").json()["start_date"]


@dataclass
class Bench:
    system: System
    usd_plan: int = 0
    zibal: httpx.Client = None  # type: ignore[assignment]
    stripe: httpx.Client = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.zibal = httpx.Client(base_url=self.system.zibal_url, timeout=30)
        self.stripe = httpx.Client(base_url=self.system.localstripe_url, auth=("sk_test_localstripe", ""), timeout=30)
        self._phones = iter(range(10**4))
        self._stamp = int(time.time()) % 1000
        self._lock = threading.Lock()

    def new_user(self) -> User:
        with self._lock:
            phone = f"+98913{self._stamp:03d}{next(self._phones):04d}"
        user = User(self.system.gateway_url)
        user.register(self.system, phone)
        return user

    def sell_in_dollars(self) -> None:
        admin = User(self.system.gateway_url)
        admin.login_admin()
        created = admin.call("POST", "/api/admin/subscription-types/", json={
            "name": "Basic (USD)", "sku": "BENCH_BASIC_USD", "price": "9.99", "currency": "USD"})
        assert created.status_code == 201, created.text
        self.usd_plan = created.json()["id"]

    def fault(self, route: str, kind: str, **extra) -> None:
        answer = self.zibal.post("/_emulator/faults", json={"faults": [{"route": route, "kind": kind, **extra}]})
        answer.raise_for_status()

    # --- one payment, as a browser makes it ----------------------------------------------------------

    def checkout(self, user: User, plan: int) -> httpx.Response:
        return user.call("POST", "/api/payments/checkout/", json={"subscription_type_id": plan})

    def pay_zibal(self, user: User, payment: dict, outcome: str, callbacks: int = 1) -> str:
        """The emulator's page, then its 302 to the gateway's callback (followed `callbacks` times)."""
        page = self.zibal.get(payment["redirect_url"].replace(self.system.zibal_url, ""), params={"outcome": outcome})
        assert page.status_code == 302, page.text
        status = ""
        for _ in range(callbacks):
            back = user.http.get(page.headers["location"])
            assert back.status_code == 302, back.text
            status = back.headers["location"].rsplit("status=", 1)[-1]
        return status

    def pay_stripe(self, payment: dict, replays: int) -> None:
        """What the card page does through Stripe.js (here with localstripe's API), then Stripe's
        webhook delivered `replays` more times, freshly signed."""
        intent = payment["redirect_url"].split("client_secret=")[1].split("_secret_")[0]
        method = self.stripe.post("/v1/payment_methods", data={
            "type": "card", "card[number]": VISA, "card[exp_month]": "12", "card[exp_year]": "2034", "card[cvc]": "123"})
        method.raise_for_status()
        self.stripe.post(f"/v1/payment_intents/{intent}", data={"payment_method": method.json()["id"]}).raise_for_status()
        self.stripe.post(f"/v1/payment_intents/{intent}/confirm").raise_for_status()
        event = None
        deadline = time.monotonic() + 20
        while event is None and time.monotonic() < deadline:
            events = self.stripe.get("/v1/events", params={"type": "payment_intent.succeeded", "limit": 100}).json()["data"]
            event = next((e for e in events if e["data"]["object"]["id"] == intent), None)
            time.sleep(0.2)
        assert event is not None, f"localstripe recorded no event for {intent}"
        for _ in range(replays):
            payload = json.dumps(event, sort_keys=True).encode()
            stamp = int(time.time())
            mac = hmac.new(STRIPE_WEBHOOK_SECRET.encode(), b"%d.%s" % (stamp, payload), hashlib.sha256).hexdigest()
            answer = httpx.post(f"{self.system.gateway_url}{WEBHOOK}", content=payload, timeout=30, headers={
                "Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"})
            assert answer.status_code in (200, 503), answer.text  # 503: billing busy, Stripe redelivers

    def scenario(self, name: str, user: User) -> str:
        """Run one payment of the soak's mix; returns what the browser saw."""
        if name.startswith("stripe"):
            answer = self.checkout(user, self.usd_plan)
            assert answer.status_code == 201, answer.text
            if name == "stripe abandoned":
                return "pending"
            self.pay_stripe(answer.json(), replays=3)
            return "paid at stripe"
        before = {
            "zibal slow request": ("request", "slow", {"seconds": 0.5}),
            "zibal request error": ("request", "error", {"status": 502}),
            "zibal request too slow": ("request", "slow", {"seconds": ZIBAL_TIMEOUT + 1}),
        }.get(name)
        if before:
            self.fault(before[0], before[1], **before[2])
        answer = self.checkout(user, BASIC)
        if answer.status_code == 503:
            return "checkout 503"
        assert answer.status_code == 201, answer.text
        payment = answer.json()
        if name == "zibal abandoned":
            return "pending"
        outcome = {"zibal cancelled": "cancelled", "zibal failed": "failed"}.get(name, "paid")
        if name == "zibal slow verify":
            self.fault("verify", "slow", seconds=0.5)
        elif name == "zibal verify error":
            self.fault("verify", "error", status=500)
        elif name == "zibal verify times out after taking the money":
            self.fault("verify", "timeout", seconds=ZIBAL_TIMEOUT + 1)
        elif name == "zibal verify and inquiry error":
            self.fault("verify", "error", status=503)
            self.fault("inquiry", "error", status=500)
        return self.pay_zibal(user, payment, outcome, callbacks=2 if name == "zibal callback twice" else 1)

    # --- the end state -------------------------------------------------------------------------------

    def payments(self) -> list[dict]:
        with sqlite3.connect(self.system.workdir / "billing.db") as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(
                "SELECT id, user_id, plan_id, status, provider, provider_ref, amount, subscription_id FROM payment")]

    def periods(self) -> Counter[tuple[int, int]]:
        """Periods ever opened, per (user, plan): each user starts on the free plan and buys once."""
        with sqlite3.connect(self.system.workdir / "billing.db") as db:
            return Counter({(u, p): n for u, p, n in db.execute(
                "SELECT user_id, plan_id, count(*) FROM subscription GROUP BY user_id, plan_id")})

    def provider_took_money(self, payment: dict) -> bool:
        if not payment["provider_ref"]:
            return False
        if payment["provider"] == "zibal":
            track = self.zibal.get(f"/_emulator/tracks/{payment['provider_ref']}")
            return track.status_code == 200 and track.json()["status"] in ZIBAL_PAID
        intent = self.stripe.get(f"/v1/payment_intents/{payment['provider_ref']}").json()
        return intent.get("status") == "succeeded"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure_latency(bench: Bench, count: int) -> dict[str, float]:
    """Checkout → the callback's redirect says completed (billing verified, completed and opened the
    period) → the user's subscription shows the new period; in milliseconds."""
    completed: list[float] = []
    took: list[float] = []
    for i in range(count):
        user = bench.new_user()
        before = user.period_start()
        started = time.perf_counter()
        answer = bench.checkout(user, BASIC)
        assert answer.status_code == 201, answer.text
        status = bench.pay_zibal(user, answer.json(), "paid")
        assert status == "completed", status
        completed.append((time.perf_counter() - started) * 1000)
        while user.period_start() == before:  # the gateway's view of the plan: a new period
            time.sleep(0.005)
        took.append((time.perf_counter() - started) * 1000)
        if (i + 1) % 20 == 0:
            say(f"latency {i + 1}/{count}: p50 {statistics.median(took):.0f} ms so far")
    return {"count": count, "completed_p50_ms": statistics.median(completed),
            "completed_p95_ms": percentile(completed, 0.95), "p50_ms": statistics.median(took),
            "p95_ms": percentile(took, 0.95), "max_ms": max(took), "mean_ms": statistics.fmean(took)}


def soak(bench: Bench, count: int, seed: int = 13, concurrency: int = 6, settle_seconds: float = 60) -> dict:
    """The soak's payments, then its checks; returns its figures and the problems found (none wanted)."""
    rng = random.Random(seed)
    names, weights = zip(*MIX.items(), strict=True)
    plan = rng.choices(names, weights, k=count)
    seen: Counter[str] = Counter()
    done = [0]
    started = time.monotonic()

    def run(name: str) -> None:
        result = bench.scenario(name, bench.new_user())
        with bench._lock:
            seen[f"{name} → {result}"] += 1
            done[0] += 1
            if done[0] % 25 == 0 or done[0] == count:
                say(f"soak {done[0]}/{count} payments in {time.monotonic() - started:.0f} s")

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(run, plan))
    load_seconds = time.monotonic() - started
    bench.zibal.delete("/_emulator/faults")

    # Reconciliation (every 2 s) settles what faults left pending; wait until every paid payment is in.
    say("waiting for reconciliation to settle what the faults left pending…")
    deadline = time.monotonic() + settle_seconds
    while True:
        rows = bench.payments()
        unsettled = [r for r in rows if r["status"] == "pending" and bench.provider_took_money(r)]
        if not unsettled or time.monotonic() > deadline:
            break
        time.sleep(1)
    settle = time.monotonic() - started - load_seconds

    rows = bench.payments()
    periods = bench.periods()
    problems: list[str] = []
    paid = [r for r in rows if bench.provider_took_money(r)]
    completed = [r for r in rows if r["status"] == "completed"]
    for row in rows:
        took = bench.provider_took_money(row)
        if took and row["status"] != "completed":
            problems.append(f"lost: payment {row['id']} was paid at {row['provider']} but is {row['status']}")
        if row["status"] == "completed" and not took:
            problems.append(f"given away: payment {row['id']} completed, but {row['provider']} took no money")
        if row["status"] == "completed" and row["subscription_id"] is None:
            problems.append(f"payment {row['id']} completed without a period")
        wanted = 1 if row["status"] == "completed" else 0
        if periods[(row["user_id"], row["plan_id"])] != wanted:
            problems.append(f"payment {row['id']} ({row['status']}) opened {periods[(row['user_id'], row['plan_id'])]} "
                            f"periods, not {wanted}")
    linked = Counter(r["subscription_id"] for r in completed)
    problems += [f"period {sid} opened by {n} payments" for sid, n in linked.items() if n > 1]
    opened = sum(n for (_, plan_id), n in periods.items() if plan_id in (BASIC, bench.usd_plan))
    if opened != len(completed):
        problems.append(f"{opened} periods opened for {len(completed)} completed payments")
    return {
        "payments": len(rows), "paid_at_provider": len(paid), "completed": len(completed),
        "periods_opened": opened, "statuses": dict(Counter(r["status"] for r in rows)),
        "load_seconds": round(load_seconds, 1), "settle_seconds": round(settle, 1),
        "scenarios": dict(sorted(seen.items())), "problems": problems,
    }


def start(workdir: Path, rabbit_url: str, redis_url: str) -> System:
    system = System(workdir, rabbit_url, redis_url, stripe=True, extra_env=SERVICE_ENV)
    try:
        system.start_all()
    except RuntimeError:
        system.stop_all()
        raise
    return system


def prepare(system: System) -> Bench:
    bench = Bench(system)
    bench.sell_in_dollars()
    return bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.payments", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=int, default=100, help="payments measured one at a time (0: none)")
    parser.add_argument("--soak", type=int, default=300, help="payments in the soak (0: none)")
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    with bench_servers("mobix_bench_payments", redis_db=10) as servers:
        workdir = Path(tempfile.mkdtemp(prefix="mobix-bench-payments-"))
        say(f"starting the system (logs in {workdir})…")
        system = start(workdir, servers.rabbit_url, servers.redis_url)
        try:
            bench = prepare(system)
            figures: dict = {}
            if args.latency:
                figures["latency"] = measure_latency(bench, args.latency)
                say("checkout → activation through the Zibal emulator: " + ", ".join(
                    f"{k} {v:.0f}" for k, v in figures["latency"].items()))
            if args.soak:
                figures["soak"] = soak(bench, args.soak, seed=args.seed, concurrency=args.concurrency)
            print(json.dumps(figures, indent=2))
            return 1 if figures.get("soak", {}).get("problems") else 0
        finally:
            system.stop_all()


if __name__ == "__main__":
    sys.exit(main())
