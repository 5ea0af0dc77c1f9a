"""A private RabbitMQ node for one test (its own node name, ports, data and logs in a temp dir, no
plugins), so the test can stop and restart the broker without touching the machine-wide one."""

import os
import shutil
import subprocess
import time
from pathlib import Path

from devinfra.system import free_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


class NodeUnavailable(Exception):
    """The node could not be started here (missing packages, Erlang distribution trouble, …)."""


class PrivateRabbit:
    def __init__(self, base: Path, name: str = "mobix_faults") -> None:
        self.base = base
        self.node = f"{name}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.proc: subprocess.Popen | None = None
        for sub in ("home", "mnesia", "log"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")  # no management plugin: nothing else to bind
        (base / "rabbitmq-env.conf").write_text("# private node: ignore the machine-wide env file\n")
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        base = self.base
        return {
            **os.environ,
            "HOME": str(base / "home"),  # its own Erlang cookie, shared with our rabbitmqctl calls
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    @property
    def ctl(self) -> tuple[str, ...]:
        """rabbitmqctl for this node (with its cookie), as a command prefix."""
        return ("env", f"HOME={self.base / 'home'}", str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node)

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*self.ctl, *args], check=False, capture_output=True, text=True, timeout=timeout)

    def start(self, timeout: float = 120) -> None:
        if not (RABBIT_BIN / "rabbitmq-server").exists() or shutil.which("erl") is None:
            raise NodeUnavailable(f"no RabbitMQ server scripts in {RABBIT_BIN} or no Erlang runtime")
        log = open(self.base / "server.out", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")], env=self.env(), cwd=self.base,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise NodeUnavailable(f"rabbitmq-server exited with {self.proc.returncode}: {self.log_tail()}")
            if self._ctl("await_startup", "--timeout", "10", timeout=30).returncode == 0:
                return
            if time.monotonic() > deadline:
                self.kill()
                raise NodeUnavailable(f"node not up after {timeout}s: {self.log_tail()}")
            time.sleep(0.5)

    def stop(self) -> None:
        """A clean broker shutdown (what a restart or an upgrade does): every connection drops."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self._ctl("stop")
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)  # the session this object started: the script and its beam
            self.proc.wait(timeout=30)

    def log_tail(self, lines: int = 20) -> str:
        path = self.base / "server.out"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
