"""Infrastructure outages the system must ride out without losing, doubling or misreporting work
(issue 21), on servers these tests own: a private PostgreSQL cluster and a private Redis, with the
services as processes.

- PostgreSQL stopped for 15 s under sends: every 201 still gets exactly one reply, billed once, and
  nothing is dead-lettered (transient failures are retried, not treated as poison).
- A lock on `message` longer than the RPC timeout: every error answer stored nothing (the commit
  does not happen past the request's deadline).
- Redis restarted empty: a signed-in browser and a bearer-token client stay signed in.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.faults.exactly_once import Broker, assert_exactly_once, settle
from tests.faults.private_rabbit import NodeUnavailable, PrivateRabbit
from tests.faults.private_servers import PrivatePostgres, PrivateRedis
from tests.faults.probes import chat_messages, queue_depths
from tests.faults.processes import start_system
from tests.faults.workload import admin_client, premium_user

pytestmark = [
    pytest.mark.servers,  # private RabbitMQ, PostgreSQL and Redis servers: not the unit tier
    pytest.mark.timeout(420),
    pytest.mark.skipif(not PrivatePostgres.available(), reason="needs pg_createcluster (postgresql-common)"),
]
RPC_TIMEOUT = 3


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A RabbitMQ node of this module's own: its queues hold only what these tests cause."""
    rabbit = PrivateRabbit(tmp_path_factory.mktemp("rabbit"), name="mobix_outages")
    try:
        rabbit.start()
    except NodeUnavailable as exc:
        pytest.skip(f"a private RabbitMQ node cannot be started here: {exc}")
    yield Broker(rabbit.url, "/", rabbit.ctl)
    rabbit.stop()


@pytest.fixture(scope="module")
def postgres():
    server = PrivatePostgres()
    server.create("gateway", "chat", "billing")
    yield server
    server.drop()


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def system(broker, postgres, private_redis, tmp_path_factory):
    running = start_system(
        tmp_path_factory.mktemp("outages"), broker.url, private_redis.url,
        GATEWAY_DATABASE_URL=postgres.url("gateway"), CHAT_DATABASE_URL=postgres.url("chat"),
        BILLING_DATABASE_URL=postgres.url("billing"),
        RPC_TIMEOUT_SECONDS=str(RPC_TIMEOUT),
        RETRY_BASE_SECONDS="0.5", RETRY_CAP_SECONDS="2",
        # Replies take a few seconds: their completions meet the outage.
        EMULATOR_CHUNK_DELAY_SECONDS="0.1",
    )
    yield running
    running.stop_all()


@pytest.fixture(scope="module")
def admin(system):
    return admin_client(system)


def _dead_letters(broker) -> dict[str, int]:
    return {name: ready for name, (ready, _) in queue_depths(broker.vhost, broker.ctl).items()
            if name.endswith(".dlq") and ready}


def _user_texts(system, user) -> list[str]:
    return [r["content"] for r in chat_messages(system, user.session_id) if r["message_type"] == "user"]


def test_postgres_stopped_15s_under_sends_loses_and_doubles_nothing(system, broker, admin, postgres):
    users = [premium_user(system, admin) for _ in range(4)]
    late = premium_user(system, admin)
    sent = {}
    for user in users:
        response = user.api.post(f"{user.session_url}/send/", json={"message": "Tell me about the sea."})
        assert response.status_code == 201, response.text
        sent[user.id] = response.json()["user_message"]["message_id"]
    postgres.stop()  # the replies are still streaming: their completions meet a dead database
    answers = []
    try:
        until = time.monotonic() + 15
        while time.monotonic() < until:
            response = late.api.post(f"{late.session_url}/send/", json={"message": f"during {len(answers)}"})
            answers.append(response.status_code)
            time.sleep(1)
    finally:
        postgres.start()
    assert answers and all(status in (503, 504) for status in answers), answers
    for user in users:
        assert_exactly_once(system, broker, user, [sent[user.id]])
    assert _user_texts(system, late) == []  # an error answer stored nothing
    assert _dead_letters(broker) == {}


def test_a_lock_longer_than_the_rpc_timeout_never_stores_an_error_answer(system, broker, admin, postgres):
    users = [premium_user(system, admin) for _ in range(4)]
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        # Writes to `message` wait (reads go on): prepare and admission pass, the commit blocks.
        import subprocess  # noqa: PLC0415

        proc = subprocess.Popen(["psql", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "-d", "chat"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        assert proc.stdin is not None
        proc.stdin.write("BEGIN; LOCK TABLE message IN EXCLUSIVE MODE; SELECT pg_sleep(0);\n")
        proc.stdin.flush()
        time.sleep(0.5)
        locked.set()
        release.wait(60)
        proc.stdin.write("COMMIT;\n")
        proc.stdin.close()
        proc.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(30)

    def one(user):
        return user, user.api.post(f"{user.session_url}/send/", json={"message": f"locked out {user.id}"})

    try:
        with ThreadPoolExecutor(len(users)) as pool:
            futures = [pool.submit(one, user) for user in users]
            time.sleep(RPC_TIMEOUT + 2)  # the lock outlasts every request's deadline
            release.set()
            results = [f.result() for f in futures]
    finally:
        release.set()
        holder.join(60)
    assert all(response.status_code in (201, 503, 504) for _, response in results), \
        [(r.status_code, r.text) for _, r in results]
    settle(broker)
    time.sleep(1)  # a late commit, if any, has had its chance
    for user, response in results:
        if response.status_code == 201:
            assert_exactly_once(system, broker, user, [response.json()["user_message"]["message_id"]])
        else:
            assert _user_texts(system, user) == [], (response.status_code, "yet the message was stored")
            # and the session is free again: the claim and reservation were given back
            retry = user.api.post(f"{user.session_url}/send/", json={"message": "after the lock"})
            assert retry.status_code == 201, retry.text


def test_a_redis_restart_keeps_a_signed_in_browser_and_a_bearer_client_signed_in(system, private_redis, admin):
    user = premium_user(system, admin)
    assert user.api.get("/api/users/").status_code == 200
    token = user.api.post("/api/auth/tokens/", json={"name": "phone app"})
    assert token.status_code == 201, token.text
    bearer = httpx.Client(base_url=system.gateway_url, timeout=30,
                          headers={"Authorization": f"Bearer {token.json()['token']}"})
    assert bearer.get("/api/users/").status_code == 200
    private_redis.kill()
    private_redis.start()  # empty: no persistence
    deadline = time.monotonic() + 30
    while (response := user.api.get("/api/users/")).status_code in (503, 504) and time.monotonic() < deadline:
        time.sleep(0.3)  # the gateway's Redis client reconnecting
    assert response.status_code == 200, response.text
    created = user.api.post("/api/chat-sessions/", json={"chatbot_id": 1})  # CSRF still matches
    assert created.status_code == 201, created.text
    assert bearer.get("/api/users/").status_code == 200  # tokens live in the gateway's database
    assert bearer.post("/api/chat-sessions/", json={"chatbot_id": 1}).status_code == 201


def test_redis_killed_with_sends_in_flight_never_answers_an_error_for_stored_work(system, broker, admin,
                                                                                   private_redis):
    """The commit point decides the answer: a send whose message was stored answers 201 even when
    Redis dies right after (the session-list copy it drops is best effort); one answered with an
    error stored nothing. The kill lands at a different point of each round's sends."""
    for round_, delay in enumerate((0.05, 0.15, 0.3)):
        users = [premium_user(system, admin) for _ in range(8)]
        start = threading.Barrier(len(users) + 1)

        def one(user, round_=round_, start=start):
            start.wait()
            return user, user.api.post(f"{user.session_url}/send/", json={"message": f"in flight {round_}"})

        with ThreadPoolExecutor(len(users)) as pool:
            futures = [pool.submit(one, user) for user in users]
            start.wait()
            time.sleep(delay)
            private_redis.kill()
            time.sleep(1)
            private_redis.start()
            results = [f.result() for f in futures]
        settle(broker)
        for user, response in results:
            stored = _user_texts(system, user)
            if response.status_code == 201:
                assert stored == [f"in flight {round_}"]
            else:
                assert response.status_code in (503, 504), response.text
                assert stored == [], (response.status_code, response.text, "yet the message was stored")
