"""Soak: several users send, edit, regenerate and stop replies on several sessions at once, with SSE
streams open, upstream faults in some messages, a worker killed and restarted and chat restarted,
for a bounded time. Then, once everything has settled: no reply lost or duplicated, each reply
billed once, Redis windows equal to the ledger, no open reservation, empty dead-letter queues, and a
worker's memory that stopped growing.
"""

import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field

import httpx
from devinfra.system import System

from bench.population import LIMIT_FIELDS
from tests.faults.exactly_once import settle
from tests.faults.probes import as_uuid, chat_messages, ledger_rows, queue_depths
from tests.faults.processes import start_extra_worker, start_system
from tests.faults.workload import admin_client
from tests.support.api import Api
from tests.support.sse import parse_events

USERS, SESSIONS_PER_USER = 4, 2
FAULTS = (
    "[[fault:fail_times=1 status=503]]",  # retried before the first token
    "[[fault:cut_after=3]]",  # broken mid-stream: the partial reply is kept
    "[[fault:error_chunk after=2 code=502]]",
    "[[fault:http_500]]",  # fails: the reply is marked failed, nothing billed
    "[[reply:words=40 delay=0.02]]",  # slow
)
EXPECTED = {200, 201, 202, 409, 429}
OUTAGE = {503, 504}  # only while a service restarts


@dataclass
class Tally:
    ops: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    unexpected: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, op: str, response: httpx.Response | None, outage: bool) -> None:
        status = response.status_code if response is not None else "transport"
        with self.lock:
            self.ops[op] += 1
            self.statuses[status] += 1
            expected = status in EXPECTED or (op == "regenerate" and status == 400)  # nothing to regenerate yet
            if not expected and not (outage and (status in OUTAGE or status == "transport")):
                self.unexpected.append((op, status, response.text[:200] if response is not None else ""))


class Soak:
    def __init__(self, system: System, seconds: float, seed: int = 7) -> None:
        self.system, self.seconds, self.seed = system, seconds, seed
        self.tally = Tally()
        self.outage = threading.Event()
        self.stop = threading.Event()
        self.streamed: Counter = Counter()  # reply.completed events seen, by message id
        self.stream_lock = threading.Lock()
        self.rss: list[tuple[float, int]] = []

    # --- one session's user ------------------------------------------------------------------
    def _call(self, api: Api, op: str, method: str, url: str, **kw) -> httpx.Response | None:
        try:
            response = api.request(method, url, **kw)
        except httpx.TransportError:
            response = None
        self.tally.record(op, response, self.outage.is_set())
        return response

    def _wait_settled(self, api: Api, url: str, deadline: float) -> None:
        """Until no user message of the session is queued or streaming (or time is up)."""
        while time.monotonic() < deadline:
            try:
                listed = api.get(f"{url}/messages/")
            except httpx.TransportError:
                listed = None
            if listed is not None and listed.status_code == 200:
                pending = [m for m in listed.json()["messages"]
                           if m["message_type"] == "user" and m["reply_status"] in {"queued", "streaming"}]
                if not pending:
                    return
            time.sleep(0.1)

    def _session_user(self, api: Api, session_id: int, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        url = f"/api/chat-sessions/{session_id}"
        n = 0
        while not self.stop.is_set():
            n += 1
            op = rng.choice(("send",) * 5 + ("fault", "fault", "edit", "regenerate", "stop"))
            text = f"soak {index}/{n}: tell me something"
            if op in {"send", "fault", "stop"}:
                if op == "fault":
                    text += " " + rng.choice(FAULTS)
                if op == "stop":
                    text += " [[reply:words=80 delay=0.03]]"
                self._call(api, op, "POST", f"{url}/send/", json={"message": text})
                if op == "stop":
                    time.sleep(rng.uniform(0.05, 0.5))
                    self._call(api, op, "POST", f"{url}/stop/")
            elif op == "edit":
                listed = self._call(api, "list", "GET", f"{url}/messages/")
                users = [m for m in listed.json()["messages"] if m["message_type"] == "user"] \
                    if listed is not None and listed.status_code == 200 else []
                if users:
                    target = rng.choice(users)
                    self._call(api, op, "POST", f"{url}/messages/{target['message_id']}/edit/",
                               json={"content": f"edited {index}/{n}"})
            else:
                self._call(api, op, "POST", f"{url}/regenerate/")
            self._wait_settled(api, url, time.monotonic() + 60)

    # --- streams, faults, memory -------------------------------------------------------------
    def _reader(self, api: Api, session_id: int) -> None:
        """Reads the session's SSE stream for the whole run, resuming with Last-Event-ID."""
        last_id = None
        while not self.stop.is_set():
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                with api.http.stream("GET", f"/api/chat-sessions/{session_id}/stream/", headers=headers,
                                     timeout=httpx.Timeout(5, read=3)) as response:
                    if response.status_code != 200:
                        time.sleep(0.5)
                        continue
                    for event in parse_events(response.iter_lines()):
                        last_id = event.get("id", last_id)
                        if event.get("event") == "reply.completed":
                            with self.stream_lock:
                                self.streamed[event["data"]["message_id"]] += 1
                        if self.stop.is_set():
                            return
            except httpx.HTTPError:
                time.sleep(0.2)  # read timeout on a quiet stream, or a restart: reconnect and resume

    def _faults(self) -> None:
        """A worker SIGKILLed mid-run and started again; later chat restarted."""
        if self.stop.wait(self.seconds * 0.3):
            return
        self.outage.set()
        self.system.kill("llm-worker", signal.SIGKILL)
        self.system.start("llm-worker")
        self.outage.clear()
        if self.stop.wait(self.seconds * 0.3):
            return
        self.outage.set()
        self.system.restart("chat")
        time.sleep(1)
        self.outage.clear()

    def _memory(self) -> None:
        pid = self.system.procs["llm-worker-2"].pid  # the worker that is never killed
        started = time.monotonic()
        while not self.stop.wait(1.0):
            with open(f"/proc/{pid}/status") as status:
                kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            self.rss.append((time.monotonic() - started, kb * 1024))

    def _progress(self) -> None:
        started = time.monotonic()
        while not self.stop.wait(10):
            with self.tally.lock:
                print(f"[soak {time.monotonic() - started:5.0f}s] ops {dict(self.tally.ops)} "
                      f"statuses {dict(self.tally.statuses)}", flush=True)

    def run(self, users: list[tuple[Api, list[int]]]) -> None:
        threads = [threading.Thread(target=self._faults, daemon=True),
                   threading.Thread(target=self._memory, daemon=True),
                   threading.Thread(target=self._progress, daemon=True)]
        index = 0
        for api, sessions in users:
            for session_id in sessions:
                index += 1
                threads.append(threading.Thread(target=self._session_user, args=(api, session_id, index), daemon=True))
                reader = Api(self.system.gateway_url)
                reader.http.cookies = api.http.cookies
                threads.append(threading.Thread(target=self._reader, args=(reader, session_id), daemon=True))
        for thread in threads:
            thread.start()
        time.sleep(self.seconds)
        self.stop.set()
        for thread in threads:
            thread.join(timeout=90)


def _unlimited_plan(admin: Api) -> int:
    body = {"name": "Soak", "sku": "SOAK", "price": "0", "duration_days": 30, "is_active": True,
            **{f: 0 for f in LIMIT_FIELDS}}
    body["max_openrouter_cost_usd"] = "0"
    created = admin.post("/api/admin/subscription-types/", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _open_reservations(system: System) -> int:
    with closing(sqlite3.connect(system.workdir / "billing.db", timeout=30)) as conn:
        # A reservation is settled when released, or when its exchange is in the ledger (committed).
        return conn.execute(
            "SELECT count(*) FROM reservation WHERE status = 'open' "
            "AND exchange_id NOT IN (SELECT exchange_id FROM usage_ledger)"
        ).fetchone()[0]


def test_soak(soak_broker, soak_redis_url, soak_seconds, tmp_path_factory):
    system = start_system(tmp_path_factory.mktemp("soak"), soak_broker.url, soak_redis_url,
                          EMULATOR_CHUNK_DELAY_SECONDS="0.002")
    try:
        start_extra_worker(system, "llm-worker-2")
        system.wait_ready("llm-worker-2")
        admin = admin_client(system)
        plan = _unlimited_plan(admin)
        users = []
        for _ in range(USERS):
            api = Api(system.gateway_url)
            user = api.register()
            assert admin.post(f"/api/admin/users/{user['id']}/subscription/",
                              json={"subscription_type_id": plan}).status_code == 200
            sessions = [api.post("/api/chat-sessions/", json={"chatbot_id": 1, "auto_generate_title": False}).json()["id"]
                        for _ in range(SESSIONS_PER_USER)]
            users.append((api, user["id"], sessions))

        soak = Soak(system, soak_seconds)
        soak.run([(api, sessions) for api, _, sessions in users])
        print(f"[soak] done: ops {dict(soak.tally.ops)} statuses {dict(soak.tally.statuses)}", flush=True)
        assert not soak.tally.unexpected, soak.tally.unexpected[:10]
        assert soak.tally.statuses[201] >= USERS * SESSIONS_PER_USER, soak.tally.statuses

        settle(soak_broker, timeout=120)
        replied: set = set()
        for api, user_id, sessions in users:
            user_replies: set = set()
            for session_id in sessions:
                rows = chat_messages(system, session_id)
                stuck = [r for r in rows if r["message_type"] == "user" and r["reply_status"] in {"queued", "streaming"}]
                assert not stuck, f"lost replies in session {session_id}: {[dict(r) for r in stuck]}"
                replies = Counter(as_uuid(r["reply_to_exchange_id"]) for r in rows if r["message_type"] == "assistant")
                assert all(n == 1 for n in replies.values()), f"duplicate replies: {replies}"
                completed = {as_uuid(r["exchange_id"]) for r in rows
                             if r["message_type"] == "user" and r["reply_status"] == "completed"}
                assert completed <= set(replies), completed - set(replies)
                user_replies |= set(replies)
            ledger = ledger_rows(system, user_id)
            billed = Counter(as_uuid(r["exchange_id"]) for r in ledger)
            assert all(n == 1 for n in billed.values()), f"billed twice: {billed}"
            assert set(billed) == user_replies, (set(billed) ^ user_replies)
            # The windows (Redis) agree with the ledger: every exchange of the run is within the hour.
            limits = {lim["name"]: lim for lim in api.get("/api/users/usage/").json()["limits"]}
            assert limits["hourly_messages"]["used"] == len(ledger), limits["hourly_messages"]
            assert limits["hourly_tokens"]["used"] == sum(r["effective_tokens"] for r in ledger), limits["hourly_tokens"]
            replied |= user_replies

        assert _open_reservations(system) == 0
        dead = {name: depth for name, depth in queue_depths(soak_broker.vhost, soak_broker.ctl).items()
                if name.endswith(".dlq") and any(depth)}
        assert not dead, dead
        # Streams: no reply announced twice, and only replies that were stored.
        assert all(n == 1 for n in soak.streamed.values()), [m for m, n in soak.streamed.items() if n > 1]
        assert {as_uuid(m) for m in soak.streamed} <= replied
        assert soak.streamed, "no stream saw a completed reply"
        # The surviving worker's memory levels off: growth over the second half of the run is small.
        half = [rss for t, rss in soak.rss if t >= soak_seconds / 2]
        assert half and max(half) - half[0] < 40 * 2**20, f"worker RSS grew {(max(half) - half[0]) / 2**20:.1f} MiB"
    finally:
        system.stop_all()
