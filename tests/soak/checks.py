"""The soak's end state, checked once every queue is empty. Each check returns the problems it found
(empty when all is well), so one run reports every broken invariant at once.

Edits and regenerates give a user message a new exchange: its earlier reply (and everything after it)
is disabled, not deleted. So "exactly one reply" is judged per exchange — every exchange the streams
announced (`reply.queued`) ends with exactly one stored reply or a failure — and the active
conversation must pair each enabled user message with the reply of its current exchange."""

import sqlite3
from collections import Counter, defaultdict
from contextlib import closing
from datetime import UTC, datetime
from uuid import UUID

import redis
from billing import rules as billing_rules
from devinfra.system import System

from tests.faults.exactly_once import Broker
from tests.faults.probes import as_uuid, chat_messages, queue_depths
from tests.soak.runner import FAILING, SLOW_REPLY, SessionLog
from tests.support.api import Api

WINDOWS = 6  # hour, 3 hours, 12 hours, day, week, month: the limiter's state fields m1…m6, t1…t6, …
BILLING_WINDOWS = billing_rules.WINDOWS
MEMORY_GROWTH_MIB = 20
MEMORY_GROWTH_SHARE = 0.15


def _billing(system: System, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(system.workdir / "billing.db", timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()


class StreamView:
    """One session's SSE events, by exchange."""

    def __init__(self, log: SessionLog) -> None:
        self.queued: dict[UUID, dict] = {}  # exchange -> the user message it answers
        self.completed: Counter = Counter()
        self.completed_content: dict[UUID, str] = {}
        self.failed: set[UUID] = set()
        self.deltas: dict[UUID, dict[int, list[tuple[int, str]]]] = defaultdict(lambda: defaultdict(list))
        for event in log.events:
            data = event.get("data")
            if not isinstance(data, dict) or "message_id" not in data:
                continue
            exchange = UUID(data["message_id"])
            kind = event.get("event")
            if kind == "reply.queued":
                self.queued[exchange] = data["user_message"]
            elif kind == "reply.completed":
                self.completed[exchange] += 1
                self.completed_content[exchange] = data["content"]
            elif kind == "reply.failed":
                self.failed.add(exchange)
            elif kind == "reply.delta":
                self.deltas[exchange][data.get("attempt", 1)].append((data["seq"], data["delta"]))

    def describe(self, exchange: UUID) -> str:
        """The deltas seen, per attempt: how many, and the sequence numbers missing or repeated."""
        parts = []
        for attempt, deltas in sorted(self.deltas.get(exchange, {}).items()):
            seqs = Counter(seq for seq, _ in deltas)
            missing = sorted(set(range(max(seqs) + 1)) - set(seqs))
            repeated = sorted(seq for seq, n in seqs.items() if n > 1)
            parts.append(f"attempt {attempt}: {len(deltas)} deltas, {sum(len(t) for _, t in deltas)} chars, "
                         f"missing seq {missing[:5]}, repeated seq {repeated[:5]}")
        return "; ".join(parts) or "no deltas"

    def streamed_texts(self, exchange: UUID) -> list[str]:
        """The text of each generation attempt the stream showed whole (sequence numbers 0…n)."""
        texts = []
        for deltas in self.deltas.get(exchange, {}).values():
            ordered = sorted(deltas)
            if [seq for seq, _ in ordered] == list(range(len(ordered))):
                texts.append("".join(text for _, text in ordered))
        return texts


def check_session(system: System, log: SessionLog, seen: Counter) -> tuple[list[str], dict[UUID, int]]:
    """Replies of one session against its streams and its accepted requests; answers the problems
    and the session's stored replies (exchange -> session). `seen` counts what was compared."""
    problems: list[str] = []
    where = f"session {log.session_id}"
    rows = chat_messages(system, log.session_id)
    view = StreamView(log)
    users = [r for r in rows if r["message_type"] == "user"]
    assistants = [r for r in rows if r["message_type"] == "assistant"]
    replies = Counter(as_uuid(r["reply_to_exchange_id"]) for r in assistants)
    content_of = {as_uuid(r["reply_to_exchange_id"]): r["content"] for r in assistants}

    # Nothing lost or stored twice, in the chat database.
    for row in users:
        exchange = as_uuid(row["exchange_id"]) if row["exchange_id"] else None
        if row["reply_status"] not in {"completed", "failed"}:
            problems.append(f"{where}: reply lost, user message {as_uuid(row['message_id'])} is {row['reply_status']}")
        elif (replies[exchange] == 1) != (row["reply_status"] == "completed"):
            problems.append(f"{where}: user message {as_uuid(row['message_id'])} is {row['reply_status']} "
                            f"with {replies[exchange]} replies to its exchange")
    problems += [f"{where}: exchange {x} has {n} replies" for x, n in replies.items() if n > 1]

    seen["disabled replies"] += sum(1 for r in assistants if r["disabled"])
    # The active conversation: each enabled user message followed by its current reply, if any.
    active = [r for r in rows if not r["disabled"]]
    for i, row in enumerate(active):
        after = active[i + 1] if i + 1 < len(active) else None
        if row["message_type"] == "user" and row["reply_status"] == "completed":
            if after is None or after["message_type"] != "assistant" or after["reply_to_exchange_id"] != row["exchange_id"]:
                problems.append(f"{where}: enabled user message {as_uuid(row['message_id'])} is not followed by its reply")
        elif row["message_type"] == "assistant":
            before = active[i - 1] if i else None
            if before is None or before["message_type"] != "user" or before["exchange_id"] != row["reply_to_exchange_id"]:
                problems.append(f"{where}: enabled reply {as_uuid(row['message_id'])} does not follow its user message")

    # Every exchange the stream announced ended once: a stored reply announced once, or a failure.
    for exchange, user_message in view.queued.items():
        stored, announced = replies[exchange] == 1, view.completed[exchange]
        if announced > 1:
            problems.append(f"{where}: reply.completed for {exchange} streamed {announced} times")
        if stored != (announced == 1):
            problems.append(f"{where}: exchange {exchange} stored={stored} but streamed completed {announced} times")
        seen["failed" if exchange in view.failed else "replied"] += 1
        if not stored and exchange not in view.failed:
            problems.append(f"{where}: exchange {exchange} neither replied nor failed")
        if exchange in view.failed and not stored and FAILING not in user_message["content"]:
            problems.append(f"{where}: exchange {exchange} failed without a failing fault: {user_message['content']!r}")
        if stored:
            content = content_of[exchange]
            if view.completed_content.get(exchange) != content:
                problems.append(f"{where}: reply.completed of {exchange} differs from the stored reply")
            texts = view.streamed_texts(exchange)
            stopped_early = content == "" and SLOW_REPLY.strip() in user_message["content"]
            seen["streamed whole"] += content in texts and content != ""
            if content not in texts and not stopped_early:
                problems.append(f"{where}: deltas of {exchange} do not add up to the stored reply "
                                f"({len(content)} chars): {view.describe(exchange)}")
    unannounced = (set(replies) | {as_uuid(r["exchange_id"]) for r in users if r["exchange_id"]}) - set(view.queued)
    if unannounced:
        problems.append(f"{where}: exchanges the stream never announced: {sorted(map(str, unannounced))}")

    # Every accepted request produced an exchange; only requests cut off by an outage may have
    # produced one without the client hearing of it.
    queued = Counter((m["message_id"], m["content"]) for m in view.queued.values())
    named = Counter((a["message_id"], a["content"]) for a in log.accepted if a["message_id"] is not None)
    missing = named - queued
    if missing:
        problems.append(f"{where}: accepted requests with no exchange: {dict(missing)}")
    extra = len(view.queued) - len(log.accepted)
    if not 0 <= extra <= log.outage_failures:
        problems.append(f"{where}: {len(view.queued)} exchanges for {len(log.accepted)} accepted requests "
                        f"({log.outage_failures} cut off by an outage)")
    # An idempotent replay stored nothing new.
    texts = Counter(r["content"] for r in users)
    problems += [f"{where}: replayed send stored {texts[a['content']]} times"
                 for a in log.accepted if a["op"] == "replay" and texts[a["content"]] > 1]
    return problems, {x: log.session_id for x in replies}


def _ms(value: str) -> int:
    moment = datetime.fromisoformat(str(value))
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def check_billing(system: System, cache: redis.Redis, user_id: int, api: Api, replies: dict[UUID, int],
                  limit: int | None) -> list[str]:
    """One ledger row per stored reply; Redis windows equal to the ledger; no open reservation."""
    problems: list[str] = []
    where = f"user {user_id}"
    ledger = _billing(system, "SELECT exchange_id, session_id, effective_tokens, is_free_model, had_image, cost_nano, "
                              "admitted_at FROM usage_ledger WHERE user_id = ? AND kind = 'exchange'", (user_id,))
    billed = Counter(as_uuid(r["exchange_id"]) for r in ledger)
    problems += [f"{where}: exchange {x} billed {n} times" for x, n in billed.items() if n > 1]
    if set(billed) != set(replies):
        problems.append(f"{where}: billed but no reply {sorted(map(str, set(billed) - set(replies)))}, "
                        f"replied but not billed {sorted(map(str, set(replies) - set(billed)))}")
    problems += [f"{where}: exchange {as_uuid(r['exchange_id'])} billed to session {r['session_id']}"
                 for r in ledger if as_uuid(r["exchange_id"]) in replies and replies[as_uuid(r["exchange_id"])] != r["session_id"]]
    if limit is not None and len(ledger) > limit:
        problems.append(f"{where}: {len(ledger)} exchanges billed within an hourly limit of {limit}")

    # The limiter's Redis state (billing/limiter.lua) against the ledger: every exchange of the run
    # is inside every window, so each window's buckets hold all of them, summed per bucket.
    base = f"billing:{{u{user_id}}}"
    for window in BILLING_WINDOWS:
        held = cache.hgetall(f"{base}:buckets:{window.name}")
        expected: dict[str, list[int]] = {}
        for r in ledger:
            b = expected.setdefault(str(_ms(r["admitted_at"]) // window.bucket_ms), [0, 0, 0, 0, 0])
            free = int(r["is_free_model"])
            for f, value in enumerate((1, r["effective_tokens"], free, free * r["effective_tokens"], int(r["had_image"]))):
                b[f] += value
        expected_text = {k: ":".join(map(str, v)) for k, v in expected.items()}
        if held != expected_text:
            problems.append(f"{where}: Redis {window.name} buckets {held}, the ledger says {expected_text}")
    state = {k: int(v) for k, v in cache.hgetall(f"{base}:state").items()}
    free = [r for r in ledger if r["is_free_model"]]
    totals = {"m": len(ledger), "t": sum(r["effective_tokens"] for r in ledger), "f": len(free),
              "g": sum(r["effective_tokens"] for r in free), "i": sum(1 for r in ledger if r["had_image"])}
    for name, total in totals.items():
        for window in range(1, WINDOWS + 1):
            if state.get(f"{name}{window}") != total:
                problems.append(f"{where}: Redis window total {name}{window} = {state.get(f'{name}{window}')}, ledger {total}")
    period = {"pt": totals["t"] - totals["g"], "pf": totals["g"], "pc": sum(r["cost_nano"] for r in ledger)}
    problems += [f"{where}: Redis period total {k} = {state.get(k)}, ledger {v}" for k, v in period.items() if state.get(k) != v]
    # What the API reports is read from those windows (the same comparison as the fault tests').
    limits = {lim["name"]: lim for lim in api.get("/api/users/usage/").json()["limits"]}
    if (limits["hourly_messages"]["used"], limits["hourly_tokens"]["used"]) != (totals["m"], totals["t"]):
        problems.append(f"{where}: usage API says {limits['hourly_messages']['used']} messages / "
                        f"{limits['hourly_tokens']['used']} tokens this hour, the ledger {totals['m']} / {totals['t']}")

    # No reservation left: Redis holds open ones until committed or released, the SQL table too.
    # (a committed exchange leaves a mark there for a while: a bare time, not a reservation)
    if held := {k: v for k, v in cache.hgetall(f"{base}:reservations").items() if ":" in v}:
        problems.append(f"{where}: open reservations in Redis: {held}")
    open_rows = _billing(system, "SELECT exchange_id FROM reservation WHERE user_id = ? AND status = 'open' "
                                 "AND exchange_id NOT IN (SELECT exchange_id FROM usage_ledger)", (user_id,))
    if open_rows:
        problems.append(f"{where}: open reservations in the ledger database: {[str(as_uuid(r[0])) for r in open_rows]}")
    return problems


def check_dead_letters(broker: Broker) -> list[str]:
    dead = {name: depth for name, depth in queue_depths(broker.vhost, broker.ctl).items()
            if name.endswith(".dlq") and any(depth)}
    return [f"dead-lettered messages: {dead}"] if dead else []


def check_memory(samples: list[tuple[float, int, int]], seconds: float) -> tuple[list[str], str]:
    """RSS over the second half of the run (the first half is warm-up): growth under the bound."""
    half = [size for at, _, size in samples if at >= seconds / 2]
    if len(half) < 3:
        return [f"too few memory samples in the second half: {len(half)}"], ""
    growth, bound = max(half) - half[0], max(MEMORY_GROWTH_MIB * 2**20, MEMORY_GROWTH_SHARE * half[0])
    summary = f"worker RSS {samples[0][2] / 2**20:.0f} MiB at start, {half[0] / 2**20:.0f} MiB at half time, " \
              f"peak {max(half) / 2**20:.0f} MiB after"
    if growth >= bound:
        grew = f"worker memory grew {growth / 2**20:.1f} MiB over the second half (bound {bound / 2**20:.0f} MiB)"
        return [f"{grew}; {summary}"], summary
    return [], summary
