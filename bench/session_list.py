"""Phase 3: `GET /api/chat-sessions/` through the platform beside a bare FastAPI route serving the same
JSON from memory (bench/bare_app.py in its own process), same wrk settings, same run."""

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx
from devinfra.system import free_port

from bench.client import BenchError, Say
from bench.loadgen import WrkResult, run_wrk
from bench.population import BenchUser

PATH = "/api/chat-sessions/"


@dataclass
class ListResult:
    platform: WrkResult
    bare: WrkResult
    sessions_per_list: int
    body_bytes: int

    @property
    def ratio(self) -> float | None:
        bare = self.bare.rate(200)
        return self.platform.rate(200) / bare if bare else None


async def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"the bare app exited with {proc.returncode}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise BenchError(f"the bare app did not answer at {url} within {timeout_s:.0f} s")


async def run_session_list(base_url: str, users: list[BenchUser], seconds: float, connections: int, threads: int,
                           say: Say, measured: Callable[[], AbstractContextManager] = nullcontext) -> ListResult:
    """`measured()` wraps the platform's load only (the CPU meter), not the bare route's."""
    requests = [user.client.prepared("GET", PATH) for user in users]
    reference = await users[0].client.request("GET", PATH)
    if reference.status_code != 200:
        raise BenchError(f"{PATH} answered {reference.status_code}: {reference.text[:300]}")
    say(f"session list: platform, {connections} connections, {len(users)} users "
        f"({len(reference.json())} sessions, {len(reference.content)} bytes each) for {seconds:.0f} s")
    with measured():
        platform = await run_wrk(base_url, requests, seconds=seconds, connections=connections, threads=threads)
    with tempfile.TemporaryDirectory(prefix="mobix-bare-") as scratch:
        body = Path(scratch) / "sessions.json"
        body.write_bytes(reference.content)
        port = free_port()
        # Started once and polled without blocking the loop.
        proc = subprocess.Popen([sys.executable, "-m", "bench.bare_app", str(body), str(port)],  # noqa: ASYNC220
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            bare_url = f"http://127.0.0.1:{port}"
            await _wait_ready(bare_url + PATH, proc)
            async with httpx.AsyncClient() as http:
                served = (await http.get(bare_url + PATH)).content
            if served != reference.content:
                raise BenchError("the bare app does not serve the same JSON as the platform")
            say(f"session list: bare FastAPI route, same settings, for {seconds:.0f} s")
            bare = await run_wrk(bare_url, requests, seconds=seconds, connections=connections, threads=threads)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return ListResult(platform, bare, len(reference.json()), len(reference.content))
