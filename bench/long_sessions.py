"""Long conversations: what a send and a page of messages cost in an empty session and in one of
10,000 messages (business-rules §6, api.md §3.5; target ≤ 1.2× the empty one).

    python -m bench.long_sessions [--messages 10000] [--full 2000] [--sends 30] [--pages 50] [--database …]

Starts the whole system as local processes (RABBIT_URL, REDIS_URL as for `make bench`), opens three
sessions for one user: empty, `--full` messages (enough to fill the free model's 32,000-token context,
so its prompt is as large as any), and `--messages`; writes the messages straight into chat's tables with chat's own
schema (as chat writes them, running counts included when the schema has them), then, one session
at a time, sends one message after another (each waits for its reply) and reads pages. Prints per
session: the send's 201 p50 / p90, chat's CPU per send (its process time over the sends, the reply's
storage included, divided by the sends), and `GET …/messages/?limit=50` p50 and bytes.
"""

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from chat.models import Message
from devinfra.system import System

from bench.cpu import cpu_seconds, wait_idle
from bench.population import GENERAL_ASSISTANT, create_plan, register, staff
from bench.runner import SERVICE_ENV
from bench.servers import bench_servers
from bench.stats import percentile
from shared.contracts import billing as b
from shared.db import make_engine
from shared.tokens import MESSAGE_OVERHEAD, count_text

WORDS = ["the", "river", "stone", "light", "quick", "question", "answer", "about", "a", "longer", "conversation"]


async def fill(chat_database_url: str, session_id: int, user_id: int, count: int) -> None:
    """`count` messages of the session, written with chat's own table (the columns it has)."""
    engine = make_engine(chat_database_url)
    try:
        async with engine.begin() as conn:
            table = Message.__table__  # the version of chat being measured: its columns, its types
            start = datetime.now(UTC) - timedelta(days=30)
            rows, running = [], 0
            for i in range(count):
                kind = "user" if i % 2 == 0 else "assistant"
                content = f"message {i}: " + " ".join(WORDS[(i + k) % len(WORDS)] for k in range(8 + i % 30))
                tokens = count_text(content)
                running += MESSAGE_OVERHEAD + tokens
                row = {"message_id": uuid4(), "session_id": session_id, "user_id": user_id, "message_type": kind,
                       "content": content, "tokens_count": tokens, "image_url": "", "disabled": False,
                       "created_at": start + timedelta(seconds=i),
                       "reply_status": "completed" if kind == "user" else None,
                       "finish_reason": "stop" if kind == "assistant" else None, "running_tokens": running}
                rows.append({k: v for k, v in row.items() if k in table.c})
            for at in range(0, len(rows), 2_000):
                await conn.execute(table.insert(), rows[at:at + 2_000])
    finally:
        await engine.dispose()


async def measure(client, chat_pid: int, session_id: int, sends: int, pages: int) -> dict:
    base = f"/api/chat-sessions/{session_id}"
    latencies = []
    cpu_before = cpu_seconds(chat_pid)
    for i in range(sends):
        began = time.perf_counter()
        sent = await client.expect("POST", f"{base}/send/", 201, json={"message": f"Question {i}: what next?"})
        latencies.append((time.perf_counter() - began) * 1000)
        mine = sent["user_message"]["message_id"]
        while True:  # the reply is stored before the next send (a session answers one at a time)
            page = await client.expect("GET", f"{base}/messages/", 200, params={"limit": 1})
            last = page["messages"][-1] if page["messages"] else {}
            if last.get("reply_to") == mine:
                break
            await asyncio.sleep(0.02)
    chat_cpu_ms = (cpu_seconds(chat_pid) - cpu_before) * 1000 / sends
    page_ms, size = [], 0
    for _ in range(pages):
        began = time.perf_counter()
        response = await client.request("GET", f"{base}/messages/", params={"limit": 50})
        page_ms.append((time.perf_counter() - began) * 1000)
        size = len(response.content)
    return {"send_p50": percentile(latencies, 50), "send_p90": percentile(latencies, 90), "chat_cpu_ms": chat_cpu_ms,
            "page_p50": percentile(page_ms, 50), "page_bytes": size}


async def run_phases(system: System, full: int, messages: int, sends: int, pages: int) -> dict[str, dict]:
    admin = await staff(system.gateway_url)
    plan_id = await create_plan(admin, "Bench unlimited", "BENCH_UNLIMITED")
    user = await register(system.gateway_url, admin, plan_id)
    results = {}
    try:
        sessions = {}
        for name in ("empty", "full", "long"):
            body = {"chatbot_id": GENERAL_ASSISTANT, "auto_generate_title": False}
            sessions[name] = (await user.client.expect("POST", "/api/chat-sessions/", 201, json=body))["id"]
        await fill(system.database_urls["chat"], sessions["full"], user.id, full)
        await fill(system.database_urls["chat"], sessions["long"], user.id, messages)
        chat_pid = system.procs["chat"].pid
        pids = {name: proc.pid for name, proc in system.procs.items()}
        for name in ("empty", "full", "long") * 2:  # twice each, interleaved; the second run counts
            await wait_idle(pids, 30)
            results[name] = await measure(user.client, chat_pid, sessions[name], sends, pages)
        full = await user.client.request("GET", f"/api/chat-sessions/{sessions['long']}/messages/")
        results["long"]["unpaged_bytes"] = len(full.content)
        results["long"]["unpaged_messages"] = len(full.json()["messages"])
    finally:
        await asyncio.gather(user.client.aclose(), admin.aclose())
    return results


async def chat_only(full: int, messages: int, sends: int, pages: int) -> dict[str, dict]:
    """Chat's own work, in this process on a SQLite file (no broker, no other service): prepare,
    commit and the reply's storage per send, and a page of 50, in process CPU time. Quieter than the
    whole system on a busy machine."""
    from chat.models import ChatTable
    from chat.seed import FREE, seed_catalog
    from chat.service import ChatService
    from chat.settings import ChatSettings

    from shared.clock import SystemClock
    from shared.contracts import chat as c
    from shared.contracts.llm import ReplyCompleted, Usage
    from shared.db import create_schema, make_session_factory, transaction
    from shared.tokens import warm_up

    workdir = Path(tempfile.mkdtemp(prefix="mobix-long-sessions-chat-"))
    url = f"sqlite+aiosqlite:///{workdir}/chat.db"
    engine = make_engine(url)
    await create_schema(engine, ChatTable.metadata)
    factory = make_session_factory(engine)
    async with transaction(factory) as s:
        await seed_catalog(s)
    service = ChatService(factory, ChatSettings(CHAT_DATABASE_URL=url), SystemClock(), billing=_AdmitAll())
    warm_up()
    user = 1
    sessions = {}
    for name, count in (("empty", 0), ("full", full), ("long", messages)):
        created = await service.create_session(c.CreateSession(user_id=user, plan_id=FREE, chatbot_id=GENERAL_ASSISTANT,
                                                               auto_generate_title=False))
        sessions[name] = created.id
        await fill(url, created.id, user, count)

    async def send(session_id: int, i: int) -> None:
        exchange_id = uuid4()
        await service.run_exchange(c.RunExchange(user_id=user, plan_id=FREE, session_id=session_id, kind="send",
                                                 content=f"Question {i}", exchange_id=exchange_id))
        prompt_tokens = service.billing.prompt_tokens[exchange_id]
        await service.on_reply_completed(ReplyCompleted(
            exchange_id=exchange_id, session_id=session_id, user_id=user, model="google/gemini-pro",
            content="A short answer.", usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=4,
                                                   total_tokens=prompt_tokens + 4)))

    async def page(query: c.ListMessages) -> dict:
        if hasattr(service, "message_page_wire"):
            return await service.message_page_wire(query)
        return (await service.page_messages(query)).model_dump(mode="json")  # chat before the wire list

    results = {}
    try:
        for name in ("empty", "full", "long") * 2:  # twice each, interleaved; the second run counts
            session_id = sessions[name]
            cpu, took = time.process_time(), []
            for i in range(sends):
                began = time.perf_counter()
                await send(session_id, i)
                took.append((time.perf_counter() - began) * 1000)
            chat_cpu_ms = (time.process_time() - cpu) * 1000 / sends
            page_ms = []
            for _ in range(pages):
                began = time.perf_counter()
                body = await page(c.ListMessages(user_id=user, session_id=session_id, limit=50))
                page_ms.append((time.perf_counter() - began) * 1000)
            results[name] = {"send_p50": percentile(took, 50), "send_p90": percentile(took, 90),
                             "chat_cpu_ms": chat_cpu_ms, "page_p50": percentile(page_ms, 50),
                             "page_bytes": len(json.dumps(body))}
        took = []
        for _ in range(3):
            began = time.perf_counter()
            everything = await page(c.ListMessages(user_id=user, session_id=sessions["long"]))
            took.append((time.perf_counter() - began) * 1000)
        results["long"]["unpaged_ms"] = percentile(took, 50)
        results["long"]["unpaged_messages"] = len(everything["messages"])
        results["long"]["unpaged_bytes"] = len(json.dumps(everything))
    finally:
        await engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    return results



class _AdmitAll:
    """Billing's admission for chat measured alone: admits every exchange, keeps its prompt size."""

    def __init__(self) -> None:
        self.prompt_tokens: dict = {}

    async def admit(self, request: b.AdmitExchange) -> b.Admission:
        self.prompt_tokens[request.exchange_id] = request.prompt_tokens
        rate = b.RateLimitInfo(limit=1000, remaining=999, reset_seconds=3600)
        return b.Admission(exchange_id=request.exchange_id, max_tokens=100, rate_limit=rate)

def report(results: dict[str, dict], full: int, messages: int, send: str = "send, 201") -> str:
    empty, filled, long = results["empty"], results["full"], results["long"]
    lines = [(f"| figure | empty session | {full:,} messages (context full) | {messages:,} messages "
             f"| {messages:,} ÷ empty | {messages:,} ÷ {full:,} |"), "|---|---|---|---|---|---|"]
    rows = [(label, empty[key], filled[key], long[key], "ms") for label, key in (
        (f"{send} p50", "send_p50"), (f"{send} p90", "send_p90"),
        ("chat CPU per send (reply stored included)", "chat_cpu_ms"), ("GET messages ?limit=50, p50", "page_p50"))]
    for figure, small, middle, large, unit in rows:
        lines.append(f"| {figure} | {small:.1f} {unit} | {middle:.1f} {unit} | {large:.1f} {unit} "
                     f"| {large / small:.2f}× | {large / middle:.2f}× |")
    lines.append(f"| page size | {empty['page_bytes']:,} B | {filled['page_bytes']:,} B | {long['page_bytes']:,} B "
                 "| — | — |")
    lines.append(f"\nunpaged list of the long session: {long['unpaged_messages']:,} messages, "
                 f"{long['unpaged_bytes']:,} B" + (f", {long['unpaged_ms']:.0f} ms (chat's part)" if "unpaged_ms" in long else ""))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--full", type=int, default=2_000)
    parser.add_argument("--sends", type=int, default=30)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--chat-only", action="store_true", help="chat in this process, no other service (the "
                        "send's figures are then prepare + commit + the reply's storage, not a 201)")
    args = parser.parse_args()
    if args.chat_only:
        results = asyncio.run(chat_only(args.full, args.messages, args.sends, args.pages))
        print(f"\nlong sessions, chat alone (sqlite, {args.sends} sends and {args.pages} pages per session):\n")
        print(report(results, args.full, args.messages, send="send (prepare, commit, reply stored)"))
        return 0
    with bench_servers() as servers:
        workdir = Path(tempfile.mkdtemp(prefix="mobix-long-sessions-"))
        postgres = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
        system = System(workdir, servers.rabbit_url, servers.redis_url, extra_env=dict(SERVICE_ENV), database=args.database,
                        postgres_url=postgres if args.database == "postgresql" else None)
        try:
            with system.running():
                results = asyncio.run(run_phases(system, args.full, args.messages, args.sends, args.pages))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nlong sessions ({args.database}, {args.sends} sends and {args.pages} pages per session):\n")
    print(report(results, args.full, args.messages))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
