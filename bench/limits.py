"""Phase 4: limit accuracy. One user on a plan allowing `limit` messages an hour fires `sends` concurrent
sends over several sessions (one wrk connection each); once every reply has finished, the committed
usage billing reports must not exceed the limit."""

import asyncio
import time
from dataclasses import dataclass

from bench.client import BenchError, Client, Say
from bench.loadgen import WrkResult, run_wrk
from bench.population import BenchUser, create_plan, open_sessions, register
from bench.replies import Settled, wait_settled
from bench.sends import MESSAGE

LIMIT_NAME = "hourly_messages"


@dataclass
class LimitResult:
    limit: int
    sends: int
    sessions: int
    wrk: WrkResult
    settled: Settled
    committed: int

    @property
    def admitted(self) -> int:
        return self.wrk.count(201)

    @property
    def overshoot(self) -> int:
        return max(0, self.committed - self.limit, self.admitted - self.limit)


async def committed_messages(client: Client, expected: int, timeout_s: float) -> int:
    """`used` of the hourly message limit, once billing has committed what chat stored (it hears the
    same completion events, a little earlier or later) or the deadline passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        usage = await client.expect("GET", "/api/users/usage/", 200)
        row = next((r for r in usage["limits"] if r["name"] == LIMIT_NAME), None)
        if row is None:
            raise BenchError(f"/api/users/usage/ has no {LIMIT_NAME}: {usage}")
        if row["used"] >= expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1)  # one more read: a late duplicate commit would show as overshoot
    again = await client.expect("GET", "/api/users/usage/", 200)
    return max(int(row["used"]), *(int(r["used"]) for r in again["limits"] if r["name"] == LIMIT_NAME))


async def run_limit_check(base_url: str, admin: Client, limit: int, sends: int, sessions: int,
                          drain_timeout_s: float, say: Say) -> LimitResult:
    plan_id = await create_plan(admin, f"Bench {limit} messages an hour", f"BENCH_HOURLY_{limit}",
                                hourly_max_messages=limit)
    user: BenchUser = await register(base_url, admin, plan_id)
    await open_sessions(user, sessions)
    requests = [user.client.prepared("POST", f"/api/chat-sessions/{user.sessions[i % sessions]}/send/", MESSAGE)
                for i in range(sends)]
    say(f"limit accuracy: {sends} concurrent sends over {sessions} sessions of one user, "
        f"hourly_max_messages = {limit}")
    result = await run_wrk(base_url, requests, seconds=120, connections=sends, threads=1, count=sends)
    say(f"limit accuracy: {result.count(201)} admitted, {result.count(429)} limit_exceeded (429), "
        f"{result.count(409)} reply_in_progress (409), others {result.others(201, 409, 429) or 'none'}")
    settled = await wait_settled([(user.client, sid) for sid in user.sessions], drain_timeout_s)
    committed = await committed_messages(user.client, settled.completed, 30)
    return LimitResult(limit, sends, sessions, result, settled, committed)
