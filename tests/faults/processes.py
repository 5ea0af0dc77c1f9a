"""Processes of the fault tests: a System on a given broker, extra llm-workers, the emulator's admin API."""

import subprocess
import sys
from pathlib import Path

import httpx
import redis
from devinfra.system import System, free_port


def start_system(workdir: Path, rabbit_url: str, redis_url: str, **env: str) -> System:
    redis.Redis.from_url(redis_url).flushdb()  # billing windows and login sessions of an earlier System
    running = System(workdir, rabbit_url, redis_url, extra_env=env)
    try:
        running.start_all()
    except RuntimeError:
        running.stop_all()
        raise
    return running


def start_extra_worker(system: System, name: str) -> None:
    """One more llm-worker process (competing consumer) on its own port, stopped with the System."""
    port = free_port()
    log = open(system.workdir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
    system.ports[name] = port
    system.procs[name] = subprocess.Popen(
        [sys.executable, "-m", "llm_worker"],
        env={**system.env(), "WORKER_PORT": str(port), "LLM_WORKER_PORT": str(port), "LLM_WORKER_METRICS_PORT": "0"},
        stdout=log, stderr=subprocess.STDOUT,
    )
    system.wait_ready(name)


def emulator(system: System, method: str, path: str, **kw) -> dict:
    response = httpx.request(method, f"{system.emulator_url}{path}", timeout=10, **kw)
    response.raise_for_status()
    return response.json()
