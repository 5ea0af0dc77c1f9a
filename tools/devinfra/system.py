"""Runs the whole system as real processes (end-to-end tests, benchmarks), like `make run` does:
emulator, SMS emulator, chat, billing, llm-worker and gateway, each on a free port, in their own RabbitMQ
virtual host, Redis database and SQLite folder. Processes can be killed and restarted."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx

MODULES = {
    "emulator": "openrouter_emulator",
    "sms": "sms_emulator",
    "chat": "chat",
    "billing": "billing",
    "llm-worker": "llm_worker",
    "gateway": "gateway",
}
START_ORDER = ("emulator", "sms", "chat", "billing", "llm-worker", "gateway")
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


def vhost_name(name: str) -> str:
    """`name` with `MOBIX_VHOST_SUFFIX` appended, so two checkouts' test runs never share a vhost."""
    return name + os.environ.get("MOBIX_VHOST_SUFFIX", "")


def fresh_vhost(rabbit_url: str, name: str) -> str:
    """A new, empty virtual host: nothing left over from earlier runs can be consumed."""
    name = vhost_name(name)
    if shutil.which("rabbitmqctl") is None:
        return rabbit_url
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], capture_output=True, timeout=60, check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                   capture_output=True, timeout=60, check=True)
    return urlunparse(urlparse(rabbit_url)._replace(path=f"/{name}"))


@dataclass
class System:
    workdir: Path
    rabbit_url: str
    redis_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in MODULES}
        _SMS_OF_GATEWAY[self.gateway_url] = self.sms_url

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['emulator']}"

    @property
    def sms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sms']}"

    def env(self) -> dict[str, str]:
        var = self.workdir
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "ENVIRONMENT": "test",
            "RABBIT_URL": self.rabbit_url,
            "REDIS_URL": self.redis_url,
            "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{var}/gateway.db",
            "CHAT_DATABASE_URL": f"sqlite+aiosqlite:///{var}/chat.db",
            "BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{var}/billing.db",
            "MEDIA_ROOT": str(var / "media"),
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "CHAT_PORT": str(self.ports["chat"]),
            "BILLING_PORT": str(self.ports["billing"]),
            "WORKER_PORT": str(self.ports["llm-worker"]),
            "LLM_WORKER_PORT": str(self.ports["llm-worker"]),
            "EMULATOR_PORT": str(self.ports["emulator"]),
            "OPENROUTER_BASE_URL": f"{self.emulator_url}/api/v1",
            "EMULATOR_CHUNK_DELAY_SECONDS": "0.005",
            "SMS_EMULATOR_PORT": str(self.ports["sms"]),
            "SMS_PROVIDER": "kavenegar",
            "SMS_BASE_URL": self.sms_url,
            "SMS_API_KEY": "emulator",
            "SMS_PER_IP_HOURLY": TEST_SMS_CAP,
            "SMS_GLOBAL_HOURLY": TEST_SMS_CAP,
            "MOBIX_ADMIN_PHONE": ADMIN_PHONE,
            "MOBIX_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **self.extra_env,
        }

    def health_url(self, name: str) -> str:
        paths = {"emulator": "api/v1/models", "sms": "messages"}
        return f"http://127.0.0.1:{self.ports[name]}/" + paths.get(name, "readyz")

    def start(self, name: str, wait: bool = True) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", MODULES[name]], env=self.env(), stdout=log, stderr=subprocess.STDOUT
        )
        if wait:
            self.wait_ready(name)

    def start_all(self) -> None:
        for name in START_ORDER:
            self.start(name, wait=False)
        for name in START_ORDER:
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
