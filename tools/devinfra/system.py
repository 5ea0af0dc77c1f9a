"""Runs the whole system as real processes (end-to-end tests, benchmarks), like `make run` does:
emulator, SMS emulator, chat, billing, llm-worker and gateway, each on a free port, in their own RabbitMQ
virtual host, Redis database and SQLite folder — or, with `database="postgresql"`, each service in
a fresh PostgreSQL database of its own (the production database), dropped by `drop_databases`. Processes
can be killed and restarted."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx

from devinfra import stripe_local

MODULES = {
    "emulator": "openrouter_emulator",
    "sms": "sms_emulator",
    "zibal": "zibal_emulator",
    "chat": "chat",
    "billing": "billing",
    "llm-worker": "llm_worker",
    "gateway": "gateway",
    "telegram-emulator": "telegram_emulator",
    "telegram-bot": "telegram_bot",
    "localstripe": "devinfra.stripe_local",
}
START_ORDER = ("emulator", "sms", "zibal", "chat", "billing", "llm-worker", "gateway")
# Started only by `System(telegram=True)`: the other suites do not pay for the bot.
TELEGRAM_ORDER = ("telegram-emulator", "telegram-bot")
# Started only by `System(stripe=True)`: localstripe, which billing and the gateway then sell through.
STRIPE_ORDER = ("localstripe",)
STRIPE_WEBHOOK_SECRET = "whsec_mobix_system_tests"
TELEGRAM_SERVICE_TOKEN = "telegram-bot-service-token-for-tests-0123456789"
TELEGRAM_WEBHOOK_SECRET = "telegram-webhook-secret-for-tests"
# Each service's metrics port setting (the emulator has none).
METRICS_ENV = {"gateway": "GATEWAY_METRICS_PORT", "chat": "CHAT_METRICS_PORT", "billing": "BILLING_METRICS_PORT",
               "llm-worker": "LLM_WORKER_METRICS_PORT", "telegram-bot": "TELEGRAM_BOT_METRICS_PORT"}
DATABASES = ("gateway", "chat", "billing")  # the services that own a database
ADMIN_PHONE = "+989100000001"
ADMIN_PASSWORD = "admin password for tests"
# Tests register many users from 127.0.0.1 within the hour: the SMS caps are raised unless a test
# sets them through `extra_env`.
TEST_SMS_CAP = "1000000"
# Which SMS emulator serves each running system's gateway, for test helpers that read login codes.
_SMS_OF_GATEWAY: dict[str, str] = {}


def sms_url_for(gateway_url: str) -> str:
    """The SMS emulator of the `System` whose gateway is at `gateway_url`."""
    try:
        return _SMS_OF_GATEWAY[gateway_url.rstrip("/")]
    except KeyError:
        raise LookupError(f"no System with a gateway at {gateway_url} was started in this process") from None


def read_code(sms_url: str, phone: str, timeout: float = 10) -> str:
    """The newest login code the SMS emulator delivered to `phone` (E.164)."""
    deadline = time.monotonic() + timeout
    while True:
        messages = httpx.get(f"{sms_url}/messages", params={"phone": phone}, timeout=10).json()
        if messages:
            return messages[-1]["code"]
        if time.monotonic() > deadline:
            raise AssertionError(f"the SMS emulator has no message for {phone}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: all are held open while choosing (one at a time, the kernel may hand
    out the same port twice, and two processes of one system then fight over it)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def vhost_name(name: str) -> str:
    """`name` with `MOBIX_VHOST_SUFFIX` appended, so two checkouts' test runs never share a vhost."""
    return name + os.environ.get("MOBIX_VHOST_SUFFIX", "")


def rabbitmqctl(*args: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
    """Run `rabbitmqctl` in a process group of its own, killed whole on timeout.

    The CLI is a shell script that starts an Erlang node: a plain timeout kills the script and leaves
    the node running on one of the CLI's eleven distribution ports; eleven such leftovers and every
    later rabbitmqctl on the machine fails with "nodistribution".
    """
    proc = subprocess.Popen(["rabbitmqctl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def fresh_vhost(rabbit_url: str, name: str) -> str:
    """A new, empty virtual host: nothing left over from earlier runs can be consumed."""
    name = vhost_name(name)
    if shutil.which("rabbitmqctl") is None:
        return rabbit_url
    rabbitmqctl("-q", "delete_vhost", name, timeout=120)
    rabbitmqctl("-q", "add_vhost", name, check=True)
    rabbitmqctl("-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*", check=True)
    return urlunparse(urlparse(rabbit_url)._replace(path=f"/{name}"))


def _postgres(admin_url: str, statements: list[str]) -> None:
    """Run statements on the PostgreSQL server of `admin_url` (any driver spelling), from a thread of
    its own so it works whether or not the caller runs an event loop."""
    import asyncpg

    dsn = urlunparse(urlparse(admin_url)._replace(scheme="postgresql"))

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@dataclass
class System:
    workdir: Path
    rabbit_url: str
    redis_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    database: str = "sqlite"  # "sqlite" | "postgresql"
    postgres_url: str | None = None  # the server's admin URL, for "postgresql"
    database_urls: dict[str, str] = field(default_factory=dict)
    telegram: bool = False  # also the Telegram emulator and the bot (webhook mode) against it
    stripe: bool = False  # also localstripe (devinfra.stripe_local), and Stripe set up against it

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(len(MODULES) + len(METRICS_ENV))
        self.ports = dict(zip(MODULES, ports, strict=False))
        self.metrics_ports = dict(zip(METRICS_ENV, ports[len(MODULES):], strict=True))
        _SMS_OF_GATEWAY[self.gateway_url] = self.sms_url
        if self.database == "postgresql":
            self._create_databases()
        elif self.database == "sqlite":
            self.database_urls = {name: f"sqlite+aiosqlite:///{self.workdir}/{name}.db" for name in DATABASES}
        else:
            raise ValueError(f"unknown database {self.database!r}: sqlite or postgresql")

    def _create_databases(self) -> None:
        if not self.postgres_url:
            raise ValueError("database='postgresql' needs postgres_url (the server's admin URL)")
        run = uuid.uuid4().hex[:10]
        names = {service: f"mobix_{service}_{run}" for service in DATABASES}
        _postgres(self.postgres_url, [f'CREATE DATABASE "{name}"' for name in names.values()])
        server = urlparse(self.postgres_url)
        self.database_urls = {
            service: urlunparse(server._replace(scheme="postgresql+asyncpg", path=f"/{name}"))
            for service, name in names.items()
        }

    def drop_databases(self) -> None:
        """Drop the PostgreSQL databases this system created (stop the processes first)."""
        if self.database != "postgresql" or not self.database_urls:
            return
        names = [urlparse(url).path.lstrip("/") for url in self.database_urls.values()]
        _postgres(self.postgres_url or "", [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names])
        self.database_urls = {}

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['emulator']}"

    @property
    def sms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sms']}"

    @property
    def zibal_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['zibal']}"

    @property
    def telegram_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['telegram-emulator']}"

    @property
    def start_order(self) -> tuple[str, ...]:
        return START_ORDER + (TELEGRAM_ORDER if self.telegram else ()) + (STRIPE_ORDER if self.stripe else ())

    @property
    def localstripe_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['localstripe']}"

    def env(self) -> dict[str, str]:
        var = self.workdir
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "ENVIRONMENT": "test",
            "RABBIT_URL": self.rabbit_url,
            "REDIS_URL": self.redis_url,
            "GATEWAY_DATABASE_URL": self.database_urls["gateway"],
            "CHAT_DATABASE_URL": self.database_urls["chat"],
            "BILLING_DATABASE_URL": self.database_urls["billing"],
            "MEDIA_ROOT": str(var / "media"),
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "CHAT_PORT": str(self.ports["chat"]),
            "BILLING_PORT": str(self.ports["billing"]),
            "WORKER_PORT": str(self.ports["llm-worker"]),
            "LLM_WORKER_PORT": str(self.ports["llm-worker"]),
            "EMULATOR_PORT": str(self.ports["emulator"]),
            **{env: str(self.metrics_ports[name]) for name, env in METRICS_ENV.items()},
            "OPENROUTER_BASE_URL": f"{self.emulator_url}/api/v1",
            "EMULATOR_CHUNK_DELAY_SECONDS": "0.005",
            "SMS_EMULATOR_PORT": str(self.ports["sms"]),
            "SMS_PROVIDER": "kavenegar",
            "SMS_BASE_URL": self.sms_url,
            "SMS_API_KEY": "emulator",
            "SMS_PER_IP_HOURLY": TEST_SMS_CAP,
            "SMS_GLOBAL_HOURLY": TEST_SMS_CAP,
            "ZIBAL_EMULATOR_PORT": str(self.ports["zibal"]),
            "ZIBAL_BASE_URL": self.zibal_url,
            "MOBIX_ADMIN_PHONE": ADMIN_PHONE,
            "MOBIX_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "TELEGRAM_BOT_SERVICE_TOKEN": TELEGRAM_SERVICE_TOKEN,
            "TELEGRAM_EMULATOR_PORT": str(self.ports["telegram-emulator"]),
            "TELEGRAM_BOT_PORT": str(self.ports["telegram-bot"]),
            "TELEGRAM_API_URL": self.telegram_url,
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{self.ports['telegram-bot']}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_WEBHOOK_SECRET,
            "MOBIX_API_URL": self.gateway_url,
            **(stripe_local.dev_env(self.ports["localstripe"], self.gateway_url, STRIPE_WEBHOOK_SECRET)
               if self.stripe else {}),
            **self.extra_env,
        }

    def metrics_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"

    def health_url(self, name: str) -> str:
        paths = {"emulator": "api/v1/models", "sms": "messages", "zibal": "healthz", "telegram-emulator": "emulator/webhook",
                 "localstripe": "stripe-js/v3/"}
        return f"http://127.0.0.1:{self.ports[name]}/" + paths.get(name, "readyz")

    def start(self, name: str, wait: bool = True) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", MODULES[name]], env=self.env(), stdout=log, stderr=subprocess.STDOUT
        )
        if wait:
            self.wait_ready(name)

    @contextmanager
    def running(self) -> Iterator["System"]:
        """Every process started; stopped and its databases dropped when done, also when a start
        fails half way (a fixture's setup and teardown in one place)."""
        try:
            self.start_all()
            yield self
        finally:
            self.stop_all()
            self.drop_databases()

    def start_all(self) -> None:
        for name in self.start_order:
            self.start(name, wait=False)
        for name in self.start_order:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                if httpx.get(self.health_url(name), timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout}s:\n{self.log_tail(name)}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        proc.send_signal(sig)
        proc.wait(timeout=60)

    def restart(self, name: str) -> None:
        self.kill(name, signal.SIGTERM)
        self.start(name)

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
