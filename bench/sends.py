"""Phase 1: sends under concurrent load from many users and sessions, end to end (201 → reply stored)."""

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from bench.client import Say
from bench.loadgen import WrkResult, run_wrk
from bench.population import BenchUser
from bench.replies import Settled, wait_settled
from bench.stats import Spread

MESSAGE = json.dumps({"message": "Benchmark: say something short about the sea."})


@dataclass
class SendsResult:
    wrk: WrkResult
    settled: Settled
    started: float  # epoch seconds, when the load started
    load_s: float

    @property
    def admitted(self) -> int:
        # Stored user messages, not wrk's 201 count: a send still in flight when wrk stops is admitted
        # and answered by the system although wrk no longer reads its 201.
        return self.settled.user_messages

    @property
    def end_to_end_s(self) -> float | None:
        if self.settled.last_stored is None:
            return None
        return self.settled.last_stored.timestamp() - self.started

    @property
    def per_second(self) -> float | None:
        """Sends admitted per second, counted until the last of their replies was stored."""
        seconds = self.end_to_end_s
        return self.admitted / seconds if seconds and self.settled.done else None

    @property
    def drain_s(self) -> float | None:
        seconds = self.end_to_end_s
        return seconds - self.load_s if seconds is not None else None

    @property
    def latency(self) -> Spread | None:
        samples = self.wrk.samples_ms.get(201)
        return Spread.of(samples) if samples else None


async def run_sends(base_url: str, users: list[BenchUser], seconds: float, connections: int, threads: int,
                    drain_timeout_s: float, say: Say, until_idle: Callable[[], Awaitable[bool]] | None = None,
                    measured: Callable[[], AbstractContextManager] = nullcontext) -> SendsResult:
    """`until_idle()` waits for the system to finish its work before the accounting polls it (polling
    500 sessions is work of its own); `measured()` wraps the load and that wait (the CPU meter)."""
    # Interleave users, so consecutive requests (and each connection's next one) hit other sessions.
    width = max(len(u.sessions) for u in users)
    requests = [
        user.client.prepared("POST", f"/api/chat-sessions/{user.sessions[j]}/send/", MESSAGE)
        for j in range(width) for user in users if j < len(user.sessions)
    ]
    say(f"sends: {connections} connections over {len(requests)} sessions of {len(users)} users for {seconds:.0f} s")
    with measured():
        started = time.time()
        result = await run_wrk(base_url, requests, seconds=seconds, connections=connections, threads=threads)
        say(f"sends: {result.count(201)} admitted (201), {result.count(409)} reply_in_progress (409), "
            f"others {result.others(201, 409) or 'none'}; waiting for the replies to be stored…")
        if until_idle is not None:
            await until_idle()
    sessions = [(u.client, sid) for u in users for sid in u.sessions]
    settled = await wait_settled(sessions, drain_timeout_s)
    if settled.user_messages != result.count(201):
        say(f"sends: note: {settled.user_messages} user messages stored but wrk counted {result.count(201)} 201s")
    return SendsResult(result, settled, started, result.duration_s)
