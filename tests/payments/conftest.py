"""The whole system as real processes with the Zibal emulator (started by `System`) and localstripe
(a third-party stateful fake of Stripe's API, started here), in its own RabbitMQ virtual host and
Redis database. Reconciliation runs only when a test asks for it (the
`reconcile` RPC), so every assertion about "nothing happened" is decided by the test alone."""

import sqlite3
import subprocess
import sys
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
import redis
from devinfra.system import System, free_port, fresh_vhost

from shared.contracts import payments as p
from tests.support.api import Api, staff_api
from tests.support.processes import serving
from tests.support.rpc import caller

RETURN_URL = "http://app.example/paid"
STRIPE_KEY = "sk_test_mobix"
STRIPE_SECRET = "whsec_mobix_test_secret"
STRIPE_PAGE = "http://app.example/pay/stripe/"


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory):
    """localstripe as a process on a free port; yields its base URL."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("localstripe")
    url = f"http://127.0.0.1:{port}"
    with serving([sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
                 workdir / "localstripe.log",
                 lambda: httpx.get(f"{url}/v1/balance", auth=(STRIPE_KEY, ""), timeout=2).status_code < 500,
                 cwd=workdir):
        yield url


def own_vhost(rabbit_url: str) -> str:
    """A fresh vhost of our own; where rabbitmqctl cannot make one, the broker the tests were given."""
    try:
        return fresh_vhost(rabbit_url, "mobix_payments")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return rabbit_url


@pytest.fixture(scope="session")
def pay_system(infra, tmp_path_factory, localstripe):
    rabbit_url = own_vhost(infra["rabbit_url"])
    redis_url = urlunparse(urlparse(infra["redis_url"])._replace(path="/12"))
    redis.Redis.from_url(redis_url).flushdb()
    extra = {"PAYMENT_RECONCILE_SECONDS": "0", "ZIBAL_TIMEOUT_SECONDS": "2", "PAYMENT_RETURN_URL": RETURN_URL,
             "PLAN_CACHE_SECONDS": "300", "STRIPE_API_KEY": STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
             "STRIPE_API_BASE": localstripe, "STRIPE_PAYMENT_PAGE_URL": STRIPE_PAGE}
    running = System(tmp_path_factory.mktemp("payments"), rabbit_url, redis_url, extra_env=extra)
    with running.running():
        yield running


@pytest.fixture(scope="session")
def admin(pay_system) -> Api:
    return staff_api(pay_system.gateway_url)


@pytest.fixture
def zibal(pay_system) -> httpx.Client:
    client = httpx.Client(base_url=pay_system.zibal_url, timeout=30)
    client.delete("/_emulator/faults")
    yield client
    client.delete("/_emulator/faults")
    client.close()


class Billing:
    """Looks into billing's own database (what was activated) and asks it to reconcile."""

    def __init__(self, system: System) -> None:
        self.system = system

    def periods(self, user_id: int, plan_id: int) -> int:
        with sqlite3.connect(self.system.workdir / "billing.db") as db:
            query = "SELECT count(*) FROM subscription WHERE user_id = ? AND plan_id = ?"
            return db.execute(query, (user_id, plan_id)).fetchone()[0]

    def activations(self, payment_id: str) -> int:
        """Periods started by this payment: the payment's own, and no other rows opened after it."""
        with sqlite3.connect(self.system.workdir / "billing.db") as db:
            row = db.execute("SELECT user_id, plan_id, subscription_id FROM payment WHERE id = ?",
                             (payment_id.replace("-", ""),)).fetchone()
        if row is None or row[2] is None:
            return 0
        return self.periods(row[0], row[1])

    async def reconcile(self) -> p.Reconciled:
        async with caller(self.system.rabbit_url, timeout=30) as rpc:
            return await rpc.call(p.RpcNames.RECONCILE, p.Reconcile(), p.Reconciled)


@pytest.fixture(scope="session")
def billing(pay_system) -> Billing:
    return Billing(pay_system)
