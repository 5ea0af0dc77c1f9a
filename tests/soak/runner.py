"""The soak workload: one thread per session doing a seeded random mix of sends (some carrying
emulator fault directives), bursts, idempotent replays, edits, regenerates, stops and reads; one SSE
reader per session that drops its connection now and then and resumes with `Last-Event-ID`; process
faults on a schedule; worker memory sampled from `/proc`. Everything the clients saw is recorded for
the end checks (`checks.py`)."""

import random
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
from devinfra.system import System

from tests.support.api import Api
from tests.support.sse import parse_events

# Upstream faults written into a message (see tools/openrouter_emulator). Only `http_500` ends in a
# failed reply (every retry fails too); the others end in a complete or partial reply.
FAULTS = (
    "[[fault:fail_times=1 status=503]]",  # retried before the first token
    "[[fault:fail_times=1 status=429 retry_after=0.2]]",  # rate limited once, retried
    "[[fault:cut_after=3]]",  # connection dropped mid-stream: the partial reply is kept
    "[[fault:error_chunk after=2 code=502]]",  # provider error mid-stream: partial reply kept
    "[[fault:slow_first_token=1]]",
    "[[reply:words=40 delay=0.02]]",  # slow tokens
    "[[fault:http_500]]",  # fails every attempt: the reply is marked failed, nothing billed
)
FAILING = "[[fault:http_"
SLOW_REPLY = " [[reply:words=80 delay=0.03]]"  # long enough to be stopped or collided with
OPS = ("send",) * 6 + ("fault",) * 3 + ("edit", "edit", "regenerate", "stop", "burst", "replay", "read")
OUTAGE = {503, 504}  # the spec's "dependency unavailable or timed out", only while a service restarts
EXCHANGE_OPS = {"send", "fault", "stop-send", "burst", "replay", "edit", "regenerate"}


@dataclass
class SessionLog:
    """What one session's clients saw: the accepted exchanges and every SSE event, in order."""

    user_id: int
    session_id: int
    limited: bool
    accepted: list[dict] = field(default_factory=list)  # {"op", "message_id", "content"} per 201/200/202
    events: list[dict] = field(default_factory=list)
    outage_failures: int = 0  # exchange requests answered 503/504 or cut during an outage
    connected: threading.Event = field(default_factory=threading.Event)


@dataclass
class Tally:
    ops: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    unexpected: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Outages:
    """Deliberate service restarts, as (start, end) monotonic times; a request overlapping one may
    get 503/504."""

    spans: list[list[float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self) -> list[float]:
        span = [time.monotonic(), float("inf")]
        with self.lock:
            self.spans.append(span)
        return span

    def overlaps(self, start: float, end: float) -> bool:
        with self.lock:
            return any(s <= end and start <= e for s, e in self.spans)


def expected_statuses(op: str, limited: bool) -> set[int]:
    statuses = {
        "send": {201, 409}, "fault": {201, 409}, "stop-send": {201, 409}, "burst": {201, 409},
        "replay": {201, 409}, "replay-again": {201}, "edit": {200, 409}, "regenerate": {202, 409}, "stop": {202, 409},
        "regenerate-empty": {400},  # nothing to regenerate in a session without messages
    }.get(op, {200})
    return statuses | ({429} if limited and op in EXCHANGE_OPS else set())


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None  # the process is being restarted


class Soak:
    def __init__(self, system: System, seconds: float, seed: int = 7) -> None:
        self.system, self.seconds, self.seed = system, seconds, seed
        self.tally = Tally()
        self.outages = Outages()
        self.stop_load = threading.Event()
        self.stop_readers = threading.Event()
        self.rss: dict[str, list[tuple[float, int, int]]] = {}  # worker -> (elapsed, pid, bytes)
        self.faults_done: list[str] = []
        self.started = 0.0

    # --- requests ------------------------------------------------------------------------------
    def _call(self, log: SessionLog, api: Api, op: str, method: str, url: str, **kw) -> httpx.Response | None:
        start = time.monotonic()
        try:
            response = api.request(method, url, **kw)
        except httpx.TransportError:
            response = None
        self._record(log, op, response, start)
        return response

    def _record(self, log: SessionLog, op: str, response: httpx.Response | None, start: float) -> None:
        status = response.status_code if response is not None else "transport"
        in_outage = self.outages.overlaps(start, time.monotonic())
        with self.tally.lock:
            self.tally.ops[op] += 1
            self.tally.statuses[status] += 1
            if status in expected_statuses(op, log.limited):
                return
            if in_outage and (status in OUTAGE or status == "transport"):
                if op in EXCHANGE_OPS:
                    log.outage_failures += 1  # it may have been stored before the answer was lost
                return
            self.tally.unexpected.append((op, log.session_id, status, response.text[:300] if response is not None else ""))

    def _accept(self, log: SessionLog, op: str, message_id: str | None, content: str | None) -> None:
        log.accepted.append({"op": op, "message_id": message_id, "content": content})

    def _wait_settled(self, api: Api, url: str, deadline: float) -> list[dict]:
        """The session's messages once none is queued or streaming (or when time is up)."""
        listed: list[dict] = []
        while time.monotonic() < deadline:
            try:
                response = api.get(f"{url}/messages/")
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                listed = response.json()["messages"]
                if not any(m["message_type"] == "user" and m["reply_status"] in {"queued", "streaming"} for m in listed):
                    return listed
            time.sleep(0.15)
        return listed

    def _send(self, log: SessionLog, api: Api, op: str, url: str, text: str, **kw) -> httpx.Response | None:
        response = self._call(log, api, op, "POST", f"{url}/send/", json={"message": text}, **kw)
        if response is not None and response.status_code == 201:
            self._accept(log, op, response.json()["user_message"]["message_id"], text)
        return response

    # --- one session's user --------------------------------------------------------------------
    def _session_user(self, api: Api, log: SessionLog, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        url = f"/api/chat-sessions/{log.session_id}"
        listed: list[dict] = []
        n = 0
        while not self.stop_load.is_set():
            n += 1
            op = rng.choice(OPS)
            text = f"soak {index}/{n}: tell me something"
            if op == "send":
                self._send(log, api, op, url, text)
            elif op == "fault":
                self._send(log, api, op, url, f"{text} {rng.choice(FAULTS)}")
            elif op == "stop":
                sent = self._send(log, api, "stop-send", url, text + SLOW_REPLY)
                if sent is not None and sent.status_code == 201:
                    time.sleep(rng.uniform(0.0, 0.6))  # before the first token, mid-stream, or after
                    self._call(log, api, "stop", "POST", f"{url}/stop/")
            elif op == "burst":
                # A second send while the first reply streams: 409, never a second reply at once.
                self._send(log, api, op, url, text + SLOW_REPLY)
                self._send(log, api, op, url, f"{text} again")
            elif op == "replay":
                key = uuid.uuid4().hex
                first = self._send(log, api, op, url, text, headers={"Idempotency-Key": key})
                if first is not None and first.status_code == 201:
                    again = self._call(log, api, "replay-again", "POST", f"{url}/send/", json={"message": text},
                                       headers={"Idempotency-Key": key})
                    same = again is not None and again.status_code == 201 and \
                        again.json()["user_message"]["message_id"] == first.json()["user_message"]["message_id"]
                    if not same:
                        with self.tally.lock:
                            self.tally.unexpected.append(("replay-again", log.session_id, "not the first answer",
                                                          again.text[:300] if again is not None else ""))
            elif op == "edit":
                users = [m for m in listed if m["message_type"] == "user"]
                if users:
                    target, content = rng.choice(users), f"edited {index}/{n}"
                    done = self._call(log, api, op, "POST", f"{url}/messages/{target['message_id']}/edit/",
                                      json={"content": content})
                    if done is not None and done.status_code == 200:
                        self._accept(log, op, target["message_id"], content)
            elif op == "regenerate":
                empty = not any(m["message_type"] == "user" for m in listed)
                done = self._call(log, api, "regenerate-empty" if empty else op, "POST", f"{url}/regenerate/")
                if done is not None and done.status_code == 202:
                    self._accept(log, op, None, None)
            else:
                path = rng.choice(("/api/chat-sessions/", "/api/users/usage/", "/api/chat-session-usages/",
                                   f"{url}/", f"{url}/messages/"))
                self._call(log, api, "read", "GET", path)
            listed = self._wait_settled(api, url, time.monotonic() + 90)

    # --- streams -------------------------------------------------------------------------------
    def _reader(self, api: Api, log: SessionLog, index: int) -> None:
        """Reads the session's stream until told to stop; every few seconds it hangs up on purpose
        and resumes with Last-Event-ID, as a client on a flaky network would."""
        rng = random.Random(self.seed * 7919 + index)
        last_id = None
        while not self.stop_readers.is_set():
            headers = {"Last-Event-ID": last_id} if last_id else {}
            hang_up_after = rng.uniform(1.0, 6.0)
            start = time.monotonic()
            try:
                with api.http.stream("GET", f"/api/chat-sessions/{log.session_id}/stream/", headers=headers,
                                     timeout=httpx.Timeout(5, read=3)) as response:
                    if response.status_code != 200:
                        response.read()
                        self._record(log, "stream", response, start)
                        time.sleep(0.3)
                        continue
                    log.connected.set()
                    for event in parse_events(response.iter_lines()):
                        log.events.append(event)
                        last_id = event.get("id", last_id)
                        if self.stop_readers.is_set():
                            return
                        if time.monotonic() - start > hang_up_after:
                            break
            except httpx.TimeoutException:
                pass  # a quiet stream: reconnect and resume
            except httpx.TransportError:
                self._record(log, "stream", None, start)
                time.sleep(0.2)
            if last_id is None and log.connected.is_set():
                # No event yet: resume from the stream's start, not from "now", so nothing is missed.
                last_id = "0-0"

    # --- process faults, memory, progress ------------------------------------------------------
    def schedule(self) -> list[tuple[float, str]]:
        """When (fraction of the load time) each process fault happens: chat and billing restarted
        once, a worker killed three times in the short form and about every 100 s in a long one, all
        within the first 70 % (a restart takes seconds; the rest of the load runs on the mended system)."""
        kills = max(3, round(self.seconds / 100))
        plan = [(0.1 + 0.6 * k / (kills - 1), "kill-worker") for k in range(kills)]
        return sorted([*plan, (0.25, "restart-chat"), (0.5, "restart-billing")])

    def _faults(self) -> None:
        for fraction, action in self.schedule():
            if self.stop_load.wait(max(0.0, self.started + fraction * self.seconds - time.monotonic())):
                return
            try:
                if action == "kill-worker":
                    # The first worker only: the second one lives through the run and its memory is judged.
                    self.system.kill("llm-worker", signal.SIGKILL)
                    self.system.start("llm-worker")
                else:
                    span = self.outages.begin()
                    self.system.restart(action.removeprefix("restart-"))
                    span[1] = time.monotonic() + 1.0  # the gateway's connections to it recover
            except RuntimeError as exc:  # a service that does not come back
                with self.tally.lock:
                    self.tally.unexpected.append((action, None, "did not restart", str(exc)[-2000:]))
                return
            self.faults_done.append(action)
            print(f"[soak {time.monotonic() - self.started:5.0f}s] {action} done", flush=True)

    def _memory(self) -> None:
        while not self.stop_load.wait(1.0):
            for name in ("llm-worker", "llm-worker-2"):
                pid = self.system.procs[name].pid
                if (size := rss_bytes(pid)) is not None:
                    self.rss.setdefault(name, []).append((time.monotonic() - self.started, pid, size))

    def _progress(self, logs: list[SessionLog]) -> None:
        while not self.stop_load.wait(10):
            with self.tally.lock:
                ops, statuses, bad = sum(self.tally.ops.values()), dict(self.tally.statuses), len(self.tally.unexpected)
            rss = {name: f"{samples[-1][2] / 2**20:.0f}MiB" for name, samples in self.rss.items() if samples}
            events = sum(len(log.events) for log in logs)
            print(f"[soak {time.monotonic() - self.started:5.0f}s] ops {ops} statuses {statuses} "
                  f"unexpected {bad} sse events {events} worker rss {rss}", flush=True)

    # --- the run -------------------------------------------------------------------------------
    def run(self, sessions: list[tuple[Api, SessionLog]]) -> None:
        """Readers connect first (so every stream is read from its start), then the load runs for
        `seconds`; the session users finish their last operation before this returns. The readers
        keep reading until `stop_streams`."""
        self._readers = []
        for index, (api, log) in enumerate(sessions):
            reader = Api(self.system.gateway_url)
            reader.http.cookies = api.http.cookies
            self._readers.append(threading.Thread(target=self._reader, args=(reader, log, index), daemon=True))
        for thread in self._readers:
            thread.start()
        for _, log in sessions:
            assert log.connected.wait(30), f"the stream of session {log.session_id} did not connect"
        self.started = time.monotonic()
        users = [threading.Thread(target=self._session_user, args=(api, log, index), daemon=True)
                 for index, (api, log) in enumerate(sessions)]
        helpers = [threading.Thread(target=self._faults, daemon=True), threading.Thread(target=self._memory, daemon=True),
                   threading.Thread(target=self._progress, args=([log for _, log in sessions],), daemon=True)]
        for thread in users + helpers:
            thread.start()
        time.sleep(self.seconds)
        self.stop_load.set()
        for thread in users + helpers:
            thread.join(timeout=120)
            assert not thread.is_alive(), "a soak thread did not finish"

    def stop_streams(self) -> None:
        self.stop_readers.set()
        for thread in self._readers:
            thread.join(timeout=30)
