"""RabbitMQ restarted under load (a private node, never the machine-wide one): sends during the outage
get 503, never a 500 or a hang, and every send answered 201 gets exactly one reply, billed once."""

import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from tests.faults.exactly_once import Broker, assert_exactly_once
from tests.faults.private_rabbit import NodeUnavailable, PrivateRabbit
from tests.faults.processes import emulator, start_system
from tests.faults.workload import UNAVAILABLE, User, admin_client, premium_user, wait_replied

pytestmark = [pytest.mark.broker_restart, pytest.mark.timeout(480)]
SENDERS = 5
# About two seconds of streaming per reply, so the broker goes down with replies mid-stream.
SLOW_REPLY = "[[reply:words=40 delay=0.05]]"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    rabbit = PrivateRabbit(tmp_path_factory.mktemp("rabbit"))
    try:
        rabbit.start()
    except NodeUnavailable as exc:
        pytest.skip(f"a private RabbitMQ node cannot be started here: {exc}")
    yield rabbit
    rabbit.stop()
    rabbit.kill()


@pytest.fixture(scope="module")
def broker(node) -> Broker:
    return Broker(node.url, "/", node.ctl)


@pytest.fixture(scope="module")
def system(node, faults_redis_url, tmp_path_factory):
    running = start_system(tmp_path_factory.mktemp("faults-restart"), node.url, faults_redis_url)
    yield running
    running.stop_all()


@dataclass
class Outcome:
    status: int | str  # HTTP status, or "hang" / "transport: …"
    phase_at_start: str
    phase_at_end: str
    message_id: str | None = None


@dataclass
class Load:
    """Sender threads, each on its own user and session: send, wait for the reply, send again."""

    users: list[User]
    phase: str = "before"
    outcomes: list[Outcome] = field(default_factory=list)
    sent: dict[int, list[str]] = field(default_factory=dict)  # user id → ids of 201-answered sends
    errors: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def send_once(self, user: User, text: str) -> Outcome:
        started = self.phase
        try:
            response = user.api.post(f"{user.session_url}/send/", json={"message": text})
            status: int | str = response.status_code
        except httpx.TimeoutException:
            status = "hang"
        except httpx.TransportError as exc:
            status = f"transport: {exc!r}"
        outcome = Outcome(status, started, self.phase)
        self.outcomes.append(outcome)
        if status == 201:
            outcome.message_id = response.json()["user_message"]["message_id"]
            self.sent.setdefault(user.id, []).append(outcome.message_id)
        return outcome

    def _send_loop(self, user: User) -> None:
        i = 0
        while not self.stopping.is_set():
            i += 1
            outcome = self.send_once(user, f"Load message {i}. {SLOW_REPLY}")
            if outcome.message_id is None:
                time.sleep(0.3)  # 409: a reply for a send that failed after storing is still on its way
                continue
            try:
                wait_replied(user, [outcome.message_id], timeout=180)
            except AssertionError as exc:
                self.errors.append(str(exc))
                return

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._send_loop, args=(u,), daemon=True) for u in self.users]
        for t in threads:
            t.start()
        return threads

    def count(self, status: int, phase: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status and o.phase_at_start == phase)


def _until(condition, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _ready(system) -> bool:
    try:
        return httpx.get(f"{system.gateway_url}/readyz", timeout=5).json().get("ready") is True
    except (httpx.HTTPError, ValueError):
        return False


def test_broker_restart_under_load_loses_and_duplicates_nothing(system, node, broker):
    admin = admin_client(system)
    load = Load([premium_user(system, admin) for _ in range(SENDERS)])
    prober = premium_user(system, admin)
    threads = load.start()
    try:
        _until(lambda: load.count(201, "before") >= 2 * SENDERS, "sends before the restart", 120)
        _until(lambda: emulator(system, "GET", "/_emulator/stats")["streams_active"] >= 1, "a reply mid-stream", 60)
        load.phase = "stopping"
        node.stop()
        load.phase = "outage"  # only now is the broker surely gone
        # The senders are mostly waiting for replies now; these sends are sure to meet the outage.
        for i in range(SENDERS):
            load.send_once(prober, f"Anyone there? {i}")
        load.phase = "restarting"
        node.start()
        _until(lambda: _ready(system), "every service reconnected", 120)
        load.phase = "after"
        _until(lambda: load.count(201, "after") >= 2 * SENDERS, "sends after the restart", 120)
    finally:
        load.stopping.set()
        deadline = time.monotonic() + 200
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
    summary = {(o.phase_at_start, o.status) for o in load.outcomes}
    print(f"outcomes (phase, status): {sorted(map(str, summary))}; total {len(load.outcomes)}")

    assert not load.errors, load.errors
    statuses = {o.status for o in load.outcomes}
    assert statuses <= {201, 409, *UNAVAILABLE}, statuses  # never a 500, never a hang
    during = [o.status for o in load.outcomes if o.phase_at_start == o.phase_at_end == "outage"]
    assert during and set(during) == {503}, during
    for user in [*load.users, prober]:
        # Windows also count reservations of sends that failed mid-way (released later or
        # expiring), so only the ledger and the session usage are compared exactly here.
        assert_exactly_once(system, broker, user, load.sent.get(user.id, []), windows=False)
