"""The peer of `BENCH_PEERS=1`: LiteLLM's proxy, the gateway operators would pick instead, measured
against the same emulator in the same run.

Pinned and installed once into a virtual environment of its own (var/bench-peers/litellm, reused by
later runs); 2 workers; rpm/tpm limits on through Redis (the router's usage-based routing keeps each
deployment's minute counters there, shared by the workers); the emulator as an OpenAI-compatible
provider.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

from bench.procs import descendants

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "var" / "bench-peers" / "litellm"
# 1.106.12: the newest release whose `proxy` extra installs from the registry alone (later ones need
# `litellm-proxy-extras` builds that were never published there).
PIN = "litellm[proxy]==1.106.12"
MODEL = "bench-model"
MASTER_KEY = "sk-bench-peer"
WORKERS = 2
# Far above what the benchmark sends: the limits are checked on every request but never reached.
RPM, TPM = 10_000_000, 10_000_000_000


def installed() -> bool:
    marker = VENV / "pinned.txt"
    return marker.exists() and marker.read_text().strip() == PIN and (VENV / "bin" / "litellm").exists()


def ensure_installed(say: Callable[[str], None]) -> Path:
    """The venv's `litellm` command, installing the pinned proxy on first use (pip, a few minutes)."""
    if not installed():
        say(f"peers: installing {PIN} into {VENV} (first run only)…")
        VENV.parent.mkdir(parents=True, exist_ok=True)
        if not (VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", PIN], check=True)
        (VENV / "pinned.txt").write_text(PIN + "\n")
    return VENV / "bin" / "litellm"


def config_yaml(emulator_url: str, redis_url: str) -> str:
    redis = urlparse(redis_url)
    return f"""\
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/google/gemini-pro
      api_base: {emulator_url}/api/v1
      api_key: bench
      rpm: {RPM}
      tpm: {TPM}
router_settings:
  routing_strategy: usage-based-routing-v2
  redis_host: {redis.hostname}
  redis_port: {redis.port or 6379}
  enable_pre_call_checks: true
litellm_settings:
  drop_params: true
  set_verbose: false
  telemetry: false
general_settings:
  master_key: {MASTER_KEY}
  disable_spend_logs: true
"""


@dataclass
class LiteLLM:
    workdir: Path
    emulator_url: str
    redis_url: str
    port: int
    proc: subprocess.Popen | None = None
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, command: Path, timeout: float = 180) -> None:
        config = self.workdir / "litellm.yaml"
        config.write_text(config_yaml(self.emulator_url, self.redis_url))
        log = open(self.workdir / "litellm.log", "ab")  # noqa: SIM115 - owned by the process
        # The price list ships with the package (it would be fetched from the internet otherwise).
        env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "DISABLE_ADMIN_UI": "True",
               "NO_DOCS": "True", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        # gunicorn: uvicorn's own supervisor kills a worker that does not answer its ping within 5 s,
        # which a worker still importing LiteLLM on a busy machine does not, over and over.
        self.proc = subprocess.Popen([str(command), "--config", str(config), "--host", "127.0.0.1",
                                      "--port", str(self.port), "--num_workers", str(WORKERS), "--run_gunicorn"],
                                     env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"LiteLLM exited with {self.proc.returncode}: see {self.workdir / 'litellm.log'}")
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"LiteLLM not ready after {timeout:.0f} s: see {self.workdir / 'litellm.log'}")
        self.pids = {"litellm": self.proc.pid}
        for n, pid in enumerate(descendants(self.proc.pid), 1):
            self.pids[f"litellm child {n}"] = pid

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "litellm.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        children = descendants(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for pid in children:  # workers left behind by a parent that did not wait for them
            try:
                os.kill(pid, 9)
            except OSError:
                pass
