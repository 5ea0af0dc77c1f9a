"""`BENCH_SCALE=1 make bench`: how each cost grows with the data (architecture §7's scale mode, issue 20).

The whole system runs as local processes (SQLite, the emulator answering at once); large data is
seeded straight into chat's database with chat's own tables (the API would take hours for 10,000
messages), then each row of issue 20's table is measured at each size through the API, beside its
target. Every figure comes from this one run:

- send: 201 p50 and chat CPU per send (its reply included) in sessions of 0, 1,000 and 10,000 messages;
- messages: a page (`?limit=50`) and the whole list, at the same sizes;
- session list right after a change (a rename), for users with 10, 1,000 and 10,000 sessions, beside a
  bare query-and-serialize of the same rows in this process (chat's own query, no RPC, no HTTP);
  and its first page (`?page=1&page_size=20`);
- Redis bytes per user after 0, 1,000 and 10,000 exchanges this month (billing's limiter script);
- the largest body the broker carried (a spy queue bound to every command and event) and the
  broker's memory after the run against its idle figure.
"""

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

import aio_pika
from devinfra.system import System, rabbitmqctl

from bench.client import BenchError, Client
from bench.config import BenchConfig
from bench.cpu import cpu_seconds, wait_idle
from bench.population import create_plan, register, staff
from bench.servers import bench_servers
from bench.stats import percentile

VHOST = "mobix_bench_scale"
MESSAGE_SIZES = (0, 1_000, 10_000)
SESSION_SIZES = (10, 1_000, 10_000)
EXCHANGE_SIZES = (0, 1_000, 10_000)
QUICK_DIVISOR = 10  # `--quick`: a tenth of each size, a smoke run of the harness
SERVICE_ENV = {"EMULATOR_CHUNK_DELAY_SECONDS": "0", "EMULATOR_FIRST_TOKEN_DELAY_SECONDS": "0", "LOG_LEVEL": "WARNING"}
TEXT = ("The sea was calm that morning, and the boats went out early to the far banks where the fish "
        "gather when the water turns cold. ")


@dataclass
class Row:
    what: str
    figures: dict[str, str]
    target: str
    met: bool | None = None


@dataclass
class Scale:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = ["| what | figures | target | met |", "|---|---|---|---|"]
        for row in self.rows:
            figures = "; ".join(f"{size}: {value}" for size, value in row.figures.items())
            met = "—" if row.met is None else ("yes" if row.met else "**no**")
            lines.append(f"| {row.what} | {figures} | {row.target} | {met} |")
        return "\n".join(lines + [""] + [f"- {note}" for note in self.notes])


_quick = False


def sizes(full: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(max(size // QUICK_DIVISOR, min(full)) if size else 0 for size in full) if _quick else full


def p50(samples: list[float]) -> float:
    return percentile(samples, 50)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def timed(call: Callable[[], Awaitable[object]], times: int) -> list[float]:
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        await call()
        spent.append(time.perf_counter() - start)
    return spent


# --- seeding with chat's own tables ---------------------------------------------------------------


def _sync_url(url: str) -> str:
    return url.replace("sqlite+aiosqlite://", "sqlite://").replace("postgresql+asyncpg://", "postgresql://")


def seed_messages(chat_url: str, session_id: int, user_id: int, count: int) -> None:
    """`count` messages (user and assistant in turn, each exchange completed) in one transaction."""
    import sqlalchemy
    from chat.models import Message

    from shared.tokens import MESSAGE_OVERHEAD, count_text

    tokens = count_text(TEXT * 2)
    start = datetime.now(UTC) - timedelta(days=1)
    rows, asked = [], None
    for n in range(count):
        # As chat writes them: each message's running prompt count continues the one before it
        # (without it the bounded prompt read falls back to walking the whole conversation).
        running = (n + 1) * (MESSAGE_OVERHEAD + tokens)
        is_user = n % 2 == 0
        exchange = uuid.uuid4() if is_user else None
        message_id = uuid.uuid4()
        row = {"message_id": message_id, "session_id": session_id, "user_id": user_id,
               "message_type": "user" if is_user else "assistant", "content": f"{n}: {TEXT * 2}",
               "tokens_count": tokens, "image_url": "", "created_at": start + timedelta(milliseconds=n),
               "edited_at": None, "disabled": False, "exchange_id": exchange,
               "reply_status": "completed" if is_user else None, "reply_error": None,
               "reply_to_exchange_id": None if is_user else asked[0], "reply_to": None if is_user else asked[1],
               "finish_reason": None if is_user else "stop", "running_tokens": running}
        if is_user:
            asked = (exchange, message_id)
        rows.append(row)
    engine = sqlalchemy.create_engine(_sync_url(chat_url))
    with engine.begin() as conn:
        if rows:
            conn.execute(Message.__table__.insert(), rows)
    engine.dispose()


def seed_sessions(chat_url: str, user_id: int, count: int) -> None:
    import sqlalchemy
    from chat.models import Chatbot, ChatSession

    engine = sqlalchemy.create_engine(_sync_url(chat_url))
    with engine.begin() as conn:
        model_id = conn.execute(sqlalchemy.select(Chatbot.default_model_id).where(Chatbot.id == 1)).scalar_one()
        start = datetime.now(UTC) - timedelta(days=2)
        conn.execute(ChatSession.__table__.insert(), [
            {"user_id": user_id, "chatbot_id": 1, "ai_model_id": model_id, "title": f"Seeded {n}",
             "auto_generate_title": False, "is_active": True, "created_at": start + timedelta(seconds=n),
             "updated_at": start + timedelta(seconds=n), "active_exchange_id": None, "active_since": None}
            for n in range(count)
        ])
    engine.dispose()


# --- the rows ---------------------------------------------------------------------------------------


async def _reply_done(client: Client, session_id: int, asked: str, timeout: float = 120) -> None:
    """Until the newest message answers `asked` (a `?limit=1` page: one keyset read in chat)."""
    path = f"/api/chat-sessions/{session_id}/messages/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        newest = (await client.expect("GET", path, 200, params={"limit": 1}))["messages"]
        if newest and newest[-1].get("reply_to") == asked:
            return
        await asyncio.sleep(0.02)
    raise BenchError(f"no reply in session {session_id} within {timeout:.0f} s")


async def send_rows(system: System, admin: Client, plan_id: int, sends: int, report: Scale) -> None:
    p50s, cpus, pages, wholes = {}, {}, {}, {}
    chat_pid = system.procs["chat"].pid
    for size in sizes(MESSAGE_SIZES):
        user = await register(system.gateway_url, admin, plan_id)
        session = await user.client.expect("POST", "/api/chat-sessions/", 201, json={"chatbot_id": 1})
        await asyncio.to_thread(seed_messages, system.database_urls["chat"], session["id"], user.id, size)
        latencies, cpu = [], 0.0
        for n in range(sends + 1):  # the first warms the caches and is not counted
            cpu_before = cpu_seconds(chat_pid) or 0.0
            start = time.perf_counter()
            sent = await user.client.expect("POST", f"/api/chat-sessions/{session['id']}/send/", 201,
                                            json={"message": f"Question {n}: what did the boats bring back?"})
            spent = time.perf_counter() - start
            await _reply_done(user.client, session["id"], sent["user_message"]["message_id"])
            if n:
                latencies.append(spent)
                cpu += (cpu_seconds(chat_pid) or 0.0) - cpu_before
        p50s[size], cpus[size] = p50(latencies), cpu / sends
        path = f"/api/chat-sessions/{session['id']}/messages/"
        pages[size] = p50(await timed(lambda path=path, c=user.client: c.expect("GET", path, 200, params={"limit": 50}), 50))
        whole = await user.client.request("GET", path)
        wholes[size] = (p50(await timed(lambda path=path, c=user.client: c.expect("GET", path, 200), 5)), len(whole.content))
        await user.client.aclose()
    small, large = min(p50s), max(p50s)
    report.rows.append(Row("send, 201 p50 (session of N messages)", {f"{s:,}": ms(v) for s, v in p50s.items()},
                           "10,000 ≤ 1.2× empty", p50s[large] <= 1.2 * p50s[small]))
    report.rows.append(Row("chat CPU per send, reply included", {f"{s:,}": ms(v) for s, v in cpus.items()},
                           "10,000 ≤ 1.2× empty", cpus[large] <= 1.2 * cpus[small]))
    report.rows.append(Row("GET messages `?limit=50` p50", {f"{s:,}": ms(v) for s, v in pages.items()},
                           "10,000 ≤ 1.2× empty", pages[large] <= 1.2 * pages[small]))
    report.rows.append(Row("GET messages, whole list p50 (bytes)",
                           {f"{s:,}": f"{ms(v)} ({b / 1024:.0f} KB)" for s, (v, b) in wholes.items()},
                           "as cheap as its size allows (no target)"))


async def bare_list(chat_url: str, user_id: int, times: int) -> list[float]:
    """Chat's own list query and the route's serialization, in this process: the baseline."""
    from chat.repository import ChatRepository
    from chat.views import session_out

    from shared.db import make_engine, make_session_factory
    from shared.rpc import to_jsonable

    engine = make_engine(chat_url)
    factory = make_session_factory(engine)

    async def once() -> bytes:
        async with factory() as s:
            _, rows = await ChatRepository(s).list_sessions(user_id, 0, None)
        items = [to_jsonable(session_out(row, bot, model)) for row, bot, model in rows]
        return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()

    try:
        await once()
        return await timed(once, times)
    finally:
        await engine.dispose()


async def list_rows(system: System, admin: Client, plan_id: int, samples: int, report: Scale) -> None:
    after_change, bare, pages = {}, {}, {}
    for size in sizes(SESSION_SIZES):
        user = await register(system.gateway_url, admin, plan_id)
        await asyncio.to_thread(seed_sessions, system.database_urls["chat"], user.id, size)
        listed = await user.client.expect("GET", "/api/chat-sessions/", 200)  # the copy is made once
        if len(listed) != size:
            raise BenchError(f"listed {len(listed)} sessions, seeded {size}")
        spent = []
        for n in range(samples):
            target = listed[(n * 7919) % size]["id"]
            await user.client.expect("PATCH", f"/api/chat-sessions/{target}/", 200, json={"title": f"Renamed {n}"})
            start = time.perf_counter()
            await user.client.expect("GET", "/api/chat-sessions/", 200)
            spent.append(time.perf_counter() - start)
        after_change[size] = p50(spent)
        bare[size] = p50(await bare_list(system.database_urls["chat"], user.id, min(samples, 8)))
        pages[size] = p50(await timed(lambda c=user.client: c.expect(
            "GET", "/api/chat-sessions/", 200, params={"page": 1, "page_size": 20}), samples))
        await user.client.aclose()
    large, small = max(pages), min(pages)
    ratio = bare[large] / after_change[large]
    report.rows.append(Row("session list right after a change p50 (bare query-and-serialize)",
                           {f"{s:,}": f"{ms(v)} ({ms(bare[s])})" for s, v in after_change.items()},
                           "10,000: ≥ 0.5× the bare rate", ratio >= 0.5))
    report.notes.append(f"session list of 10,000 sessions after a change: {ratio:.2f}× the bare query-and-serialize rate")
    report.rows.append(Row("session list `?page=1&page_size=20` p50", {f"{s:,}": ms(v) for s, v in pages.items()},
                           "10,000 ≤ 1.3× 10", pages[large] <= 1.3 * pages[small]))


async def redis_rows(redis_url: str, report: Scale) -> None:
    """Billing's limiter script, as every admission and commit runs it, over a month of exchanges."""
    from billing.limiter import ExchangeTerms, LedgerEntry, Snapshot, UsageLimiter
    from billing.rules import LIMITS, to_ms

    from shared.cache import make_redis

    client = make_redis(redis_url)
    prefix = f"bench-scale-{uuid.uuid4().hex[:6]}"
    limiter = UsageLimiter(client, reservation_ttl_seconds=900, min_reply_tokens=16, prefix=prefix)
    limits = tuple(0 for _ in LIMITS)
    start = to_ms(datetime.now(UTC) - timedelta(days=30))
    footprint = {}
    try:
        for n_user, exchanges in enumerate(sizes(EXCHANGE_SIZES), start=1):
            await limiter.load(n_user, start, "epoch", Snapshot(period_start_ms=start))
            step = 30 * 86_400_000 // max(1, exchanges)
            for n in range(exchanges):
                now = start + n * step
                terms = ExchangeTerms(uuid.uuid4(), start, n % 3 == 0, 1, 1, 200, 300, False, 1_000, 2_000)
                await limiter.admit(n_user, now, terms, limits)
                await limiter.commit(n_user, now + 5_000,
                                     LedgerEntry(terms.exchange_id, now, 250, terms.is_free, False, 500_000))
            footprint[exchanges] = sum([await client.memory_usage(k, samples=0) or 0 for k in limiter.keys(n_user)])
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    report.rows.append(Row("Redis per user (N exchanges this month)", {f"{s:,}": f"{b / 1024:.1f} KiB" for s, b in footprint.items()},
                           "≤ 32 KiB whatever the usage", max(footprint.values()) <= 32 * 1024))


# --- the broker ------------------------------------------------------------------------------------


class BrokerSpy:
    """A queue bound to every command and event of the run: the largest body the broker carried."""

    def __init__(self, url: str) -> None:
        self.url, self.name = url, f"bench.spy.{uuid.uuid4().hex[:6]}"

    async def __aenter__(self) -> Self:
        async with await aio_pika.connect(self.url) as conn:
            queue = await (await conn.channel()).declare_queue(self.name, arguments={"x-queue-type": "classic"})
            for exchange, key in (("commands", "llm.generate_reply"), ("commands", "llm.generate_title"),
                                  ("events", "#")):
                await queue.bind(exchange, key)
        return self

    async def largest(self) -> tuple[int, str, int]:
        """(bytes, routing key, messages seen); the queue is emptied and deleted."""
        largest, key, seen = 0, "", 0
        async with await aio_pika.connect(self.url) as conn:
            queue = await (await conn.channel()).declare_queue(self.name, passive=True)
            while (message := await queue.get(fail=False, no_ack=True)) is not None:
                seen += 1
                if len(message.body) > largest:
                    largest, key = len(message.body), message.routing_key or ""
            await queue.delete(if_unused=False, if_empty=False)
        return largest, key, seen

    async def __aexit__(self, *exc: object) -> None:
        return None


def broker_memory() -> float | None:
    """The node's memory (MiB, as the Erlang VM counts it), or None without rabbitmqctl."""
    if shutil.which("rabbitmqctl") is None:
        return None
    done = rabbitmqctl("-q", "status", "--formatter", "json", timeout=60)
    try:
        return json.loads(done.stdout)["memory"]["total"]["erlang"] / 2**20
    except (ValueError, KeyError, TypeError):
        return None


def wal_setting() -> str:
    if shutil.which("rabbitmqctl") is None:
        return "unknown"
    done = rabbitmqctl("-q", "eval", "application:get_env(ra, wal_max_size_bytes).", timeout=60)
    return (done.stdout or b"").decode().strip() or "unknown"


# --- the run ---------------------------------------------------------------------------------------


async def phases(system: System, config: BenchConfig, idle_mib: float | None, report: Scale) -> None:
    admin = await staff(system.gateway_url)
    sends, samples = (4, 8) if config.quick else (15, 20)
    try:
        plan_id = await create_plan(admin, "Bench scale unlimited", f"BENCH_SCALE_{uuid.uuid4().hex[:6]}")
        async with BrokerSpy(system.rabbit_url) as spy:
            print(f"[scale] sends and messages in sessions of {sizes(MESSAGE_SIZES)} messages…", flush=True)
            await send_rows(system, admin, plan_id, sends, report)
            print(f"[scale] session lists of {sizes(SESSION_SIZES)} sessions…", flush=True)
            await list_rows(system, admin, plan_id, samples, report)
            print("[scale] Redis per user…", flush=True)
            await redis_rows(system.redis_url, report)
            await wait_idle({name: proc.pid for name, proc in system.procs.items()}, 120)
            largest, key, seen = await spy.largest()
        report.rows.append(Row("largest broker message", {"run": f"{largest / 1024:.1f} KiB ({key}, of {seen})"},
                               "≤ 64 KiB", largest <= 64 * 1024))
        after = broker_memory()
        if idle_mib and after:
            report.rows.append(Row("broker memory after the run (idle)", {"run": f"{after:.0f} MiB ({idle_mib:.0f} MiB)"},
                                   "≤ 1.5× idle", after <= 1.5 * idle_mib))
        report.notes.append(f"RabbitMQ's Raft WAL bound (ra wal_max_size_bytes): {wal_setting()}")
    finally:
        await admin.aclose()


def run_scale(config: BenchConfig) -> int:
    global _quick
    _quick = config.quick
    with bench_servers() as servers:
        workdir = Path(tempfile.mkdtemp(prefix="mobix-bench-scale-"))
        system = System(workdir, servers.rabbit_url, servers.redis_url, extra_env={**SERVICE_ENV, **config.service_env})
        report = Scale()
        failed = True
        try:
            system.start_all()
            asyncio.run(wait_idle({name: proc.pid for name, proc in system.procs.items()}, 60))
            idle = broker_memory()
            report.notes.append(f"broker memory when the system was up and idle: {idle:.0f} MiB" if idle else
                                "broker memory: rabbitmqctl unavailable")
            asyncio.run(phases(system, config, idle, report))
            failed = False
        except (BenchError, RuntimeError, subprocess.SubprocessError) as error:
            print(f"[scale] FAILED: {type(error).__name__}: {error}", flush=True)
            for name in system.procs:
                tail = system.log_tail(name, 15)
                if tail.strip():
                    print(f"--- {name} log (last lines) ---\n{tail}", flush=True)
            return 1
        finally:
            system.stop_all()
            if not failed:
                shutil.rmtree(workdir, ignore_errors=True)
    text = f"# Scale mode ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n\n{report.text()}\n"
    (config.results or Path(__file__).with_name("SCALE_RESULTS.md")).write_text(text)
    print("\n" + text, flush=True)
    return 0 if all(row.met is not False for row in report.rows) else 1
