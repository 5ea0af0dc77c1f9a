"""`python -m bench.deltas [--replies N] [--sessions K] [--words W]`: what one streamed reply costs when
the emulator is paced like a real model (EMULATOR_CHUNK_DELAY_SECONDS=0.012, W chunks).

Starts the whole system, gives a user K sessions, each with an SSE reader, and sends N replies (K at a
time, each session waiting for its `reply.completed`). Reports per reply: the messages the broker's
`events` exchange carried (counted by a queue of our own bound to `#`; the commands and RPCs are the
same before and after), the `reply.delta` events a reader got, and the CPU milliseconds of each
service process (from /proc, until the system is idle again, so titles are included).
"""

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import aio_pika
from devinfra.system import System

from bench.cpu import load_average, snapshot, used, wait_idle
from bench.population import create_plan, open_sessions, register, staff
from bench.servers import bench_servers
from bench.ttft import SessionStream

VHOST = "mobix_bench_deltas" + os.environ.get("MOBIX_VHOST_SUFFIX", "")
REDIS_DB = 12
CHUNK_DELAY = "0.012"


async def spy_queue(url: str) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractQueue]:
    conn = await aio_pika.connect(url)
    queue = await (await conn.channel()).declare_queue("bench.events-spy", exclusive=True)
    await queue.bind("events", "#")
    return conn, queue


async def drain(queue: aio_pika.abc.AbstractQueue) -> Counter:
    keys: Counter = Counter()
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        keys[message.routing_key or ""] += 1
    return keys


async def measure(system: System, rabbit_url: str, replies: int, sessions: int, words: int) -> dict:
    admin = await staff(system.gateway_url)
    plan_id = await create_plan(admin, "Bench deltas", "BENCH_DELTAS")
    user = await register(system.gateway_url, admin, plan_id)
    await open_sessions(user, sessions)
    streams = [SessionStream(user.client, sid) for sid in user.sessions]
    for stream in streams:
        await stream.start()
    pids = {name: proc.pid for name, proc in system.procs.items()}
    text = f"Tell me a story [[reply:words={words}]]"

    async def converse(stream: SessionStream, count: int) -> int:
        deltas = 0
        for _ in range(count):
            await user.client.expect("POST", f"/api/chat-sessions/{stream.session_id}/send/", 201,
                                     json={"message": text})
            while True:
                _, name, _ = await stream.next("reply.delta", "reply.completed", "reply.failed")
                if name != "reply.delta":
                    break
                deltas += 1
        return deltas

    # One warm-up reply per session (first replies also start title generation), then the measured ones.
    await asyncio.gather(*(converse(s, 1) for s in streams))
    await wait_idle(pids, 60)
    conn, spy = await spy_queue(rabbit_url)
    before, started = snapshot(pids), time.monotonic()
    per_session = replies // sessions
    deltas = sum(await asyncio.gather(*(converse(s, per_session) for s in streams)))
    wall = time.monotonic() - started
    await wait_idle(pids, 60)
    spent = used(before, snapshot(pids))
    keys = await drain(spy)
    await conn.close()
    for stream in streams:
        await stream.close()
    await user.client.aclose()
    await admin.aclose()
    done = per_session * sessions
    return {
        "replies": done, "words": words, "wall_s": round(wall, 2),
        "events_messages_per_reply": round(sum(keys.values()) / done, 2),
        "events_by_key": dict(keys),
        "sse_deltas_per_reply": round(deltas / done, 2),
        "cpu_ms_per_reply": {name: round(1000 * s / done, 1) for name, s in sorted(spent.items(), key=lambda i: -i[1])},
        "cpu_ms_per_reply_total": round(1000 * sum(spent.values()) / done, 1),
        "load_average": load_average(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=48)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--words", type=int, default=40)
    args = parser.parse_args()
    with bench_servers() as servers:
        workdir = Path(tempfile.mkdtemp(prefix="mobix-bench-deltas-"))
        system = System(workdir, servers.rabbit_url, servers.redis_url, extra_env={
            "EMULATOR_CHUNK_DELAY_SECONDS": CHUNK_DELAY, "EMULATOR_FIRST_TOKEN_DELAY_SECONDS": "0", "LOG_LEVEL": "WARNING",
        })
        with system.running():
            result = asyncio.run(measure(system, servers.rabbit_url, args.replies, args.sessions, args.words))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
