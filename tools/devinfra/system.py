"""Runs the whole system as real processes (end-to-end tests, benchmarks), like `make run` does:
emulator, chat, billing, llm-worker and gateway, each on a free port, in their own RabbitMQ
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
    "zibal": "zibal_emulator",
    "chat": "chat",
    "billing": "billing",
    "llm-worker": "llm_worker",
    "gateway": "gateway",
}
START_ORDER = ("emulator", "zibal", "chat", "billing", "llm-worker", "gateway")
ADMIN_PHONE = "+989100000001"
ADMIN_PASSWORD = "admin password for tests"


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

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['emulator']}"

    @property
    def zibal_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['zibal']}"

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
            "ZIBAL_EMULATOR_PORT": str(self.ports["zibal"]),
            "ZIBAL_BASE_URL": self.zibal_url,
            "MOBIX_ADMIN_PHONE": ADMIN_PHONE,
            "MOBIX_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **self.extra_env,
        }

    def health_url(self, name: str) -> str:
        path = {"emulator": "api/v1/models", "zibal": "healthz"}.get(name, "readyz")
        return f"http://127.0.0.1:{self.ports[name]}/{path}"

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
