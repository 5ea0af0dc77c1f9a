"""Transient failures are retried with backoff through a delay queue, poison ends in the `.dlq`, and
the re-drive command brings a dead-lettered message back (architecture §4), over the real broker."""

import asyncio
import errno
import sqlite3
import time
import uuid

import aio_pika
import httpx
import pytest
import redis.exceptions
import sqlalchemy.exc
from faststream.rabbit import RabbitRouter
from pydantic import BaseModel

from shared import consumers, topology
from shared.broker import declare_topology, make_broker
from shared.consumers import RetryPolicy, is_transient, redeliver_on_error
from shared.errors import NotFound, Timeout
from shared.redrive import redrive


class Job(BaseModel):
    n: int


# --- classification -------------------------------------------------------------------------------


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(exc: Exception) -> Exception:
    try:
        try:
            raise exc
        except Exception as inner:
            raise sqlalchemy.exc.OperationalError("INSERT ...", {}, inner) from inner
    except Exception as outer:  # noqa: BLE001
        return outer


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    _wrapped(ConnectionResetError()),
    _wrapped(_PgError("57P03")),  # the database system is starting up
    _wrapped(_PgError("40001")),  # serialization failure
    _wrapped(_PgError("40P01")),  # deadlock
    _wrapped(_PgError("08006")),  # connection failure
    _wrapped(sqlite3.OperationalError("database is locked")),
    TimeoutError(),
    Timeout("billing.admit did not answer in time"),
    redis.exceptions.ConnectionError("Connection refused"),
    redis.exceptions.BusyLoadingError("loading"),
    httpx.ConnectError("refused"),
    httpx.HTTPStatusError("503", request=httpx.Request("GET", "http://x"),
                          response=httpx.Response(503, request=httpx.Request("GET", "http://x"))),
])
def test_dependency_failures_are_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    ValueError("bad"), KeyError("x"), OverflowError("Python int too large to convert to SQLite INTEGER"),
    NotFound(), _wrapped(_PgError("23505")),  # a unique violation is the message's own
    _wrapped(sqlite3.OperationalError("no such table: message")),
    httpx.HTTPStatusError("400", request=httpx.Request("GET", "http://x"),
                          response=httpx.Response(400, request=httpx.Request("GET", "http://x"))),
])
def test_other_failures_are_poison(exc):
    assert not is_transient(exc)


# --- over the broker ------------------------------------------------------------------------------


@pytest.fixture
def queue_name() -> str:
    return f"test-retries.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fast_retries():
    consumers.configure_retries(RetryPolicy(base_seconds=0.1, cap_seconds=0.4, max_seconds=60))
    yield
    consumers.configure_retries(RetryPolicy())


async def _declare(rabbit_url: str, name: str) -> None:
    broker = make_broker(rabbit_url)
    await broker.connect()
    await declare_topology(broker)  # the dlx exchange
    await broker.declare_queue(topology.work_queue(name, name))
    dlq = await broker.declare_queue(topology.dead_letter_queue(name))
    await dlq.bind(topology.DLX.name, routing_key=f"{name}.dlq")
    await broker.declare_queue(topology.retry_queue(name))
    await broker.stop()


async def _publish(rabbit_url: str, name: str, *jobs: Job) -> None:
    connection = await aio_pika.connect(rabbit_url)
    channel = await connection.channel(publisher_confirms=True)
    for job in jobs:
        await channel.default_exchange.publish(
            aio_pika.Message(job.model_dump_json().encode(), content_type="application/json",
                             message_id=uuid.uuid4().hex, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=name)
    await connection.close()


async def _depth(rabbit_url: str, name: str) -> int:
    connection = await aio_pika.connect(rabbit_url)
    channel = await connection.channel()
    declared = await channel.declare_queue(name, passive=True)
    await connection.close()
    return declared.declaration_result.message_count


async def _delete(rabbit_url: str, name: str) -> None:
    connection = await aio_pika.connect(rabbit_url)
    channel = await connection.channel()
    for queue in (name, f"{name}.dlq", f"{name}.retry"):
        await channel.queue_delete(queue)
    await connection.close()


async def _until(condition, what: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


async def _consuming(rabbit_url: str, name: str, handle) -> object:
    router = RabbitRouter()
    queue = topology.work_queue(name, name)

    @router.subscriber(queue)
    @redeliver_on_error(name)
    async def on_job(job: Job) -> None:
        await handle(job)

    broker = make_broker(rabbit_url)
    broker.include_router(router)
    await broker.start()
    return broker


async def test_a_dependency_down_longer_than_the_delivery_limit_is_retried_until_it_is_back(
        rabbit_url, queue_name, fast_retries):
    """Twelve failures in a row (the delivery limit is 5): retried with backoff, never dead-lettered;
    meanwhile the consumer goes on with other messages."""
    await _declare(rabbit_url, queue_name)
    failures: dict[int, int] = {}
    done: list[int] = []

    async def handle(job: Job) -> None:
        if job.n == 1 and failures.get(1, 0) < 12:
            failures[1] = failures.get(1, 0) + 1
            raise sqlalchemy.exc.OperationalError("INSERT", {}, ConnectionRefusedError(errno.ECONNREFUSED, "down"))
        done.append(job.n)

    broker = await _consuming(rabbit_url, queue_name, handle)
    try:
        await _publish(rabbit_url, queue_name, Job(n=1))
        await _until(lambda: asyncio.sleep(0, failures.get(1, 0) >= 1), "the first failure")
        await _publish(rabbit_url, queue_name, Job(n=2), Job(n=3))
        await _until(lambda: asyncio.sleep(0, 1 in done), "job 1 after its dependency came back")
        assert failures[1] == 12
        assert done.index(2) < done.index(1) and done.index(3) < done.index(1), done  # not blocked
        assert await _depth(rabbit_url, f"{queue_name}.dlq") == 0
        assert sorted(done) == [1, 2, 3]
    finally:
        await broker.stop()
        await _delete(rabbit_url, queue_name)


async def test_a_transient_failure_that_outlasts_the_retry_budget_is_dead_lettered(rabbit_url, queue_name):
    consumers.configure_retries(RetryPolicy(base_seconds=0.1, cap_seconds=0.2, max_seconds=1.0))
    await _declare(rabbit_url, queue_name)

    first_failure_ms: list[int] = []
    carried_since_ms: list[int] = []

    async def handle(job: Job) -> None:
        headers = consumers.current_delivery().headers or {}
        if consumers.RETRY_SINCE in headers:
            carried_since_ms.append(headers[consumers.RETRY_SINCE])
        else:
            first_failure_ms.append(int(time.time() * 1000))
        raise ConnectionRefusedError(errno.ECONNREFUSED, "still down")

    broker = await _consuming(rabbit_url, queue_name, handle)
    try:
        await _publish(rabbit_url, queue_name, Job(n=1))
        await _until(lambda: _depth_is(rabbit_url, f"{queue_name}.dlq", 1), "the dead letter", timeout=30)
        assert len(first_failure_ms) == 1 and carried_since_ms, (first_failure_ms, carried_since_ms)
        # Every retry carries the first failure's time, not a rounded one: as a 32-bit float it was
        # off by up to 64 s, so the budget ran out at once or only minutes later.
        assert set(carried_since_ms) == {carried_since_ms[0]}
        assert 0 <= carried_since_ms[0] - first_failure_ms[0] < 1000, (carried_since_ms[0], first_failure_ms[0])
    finally:
        consumers.configure_retries(RetryPolicy())
        await broker.stop()
        await _delete(rabbit_url, queue_name)


async def _depth_is(rabbit_url: str, name: str, depth: int) -> bool:
    return await _depth(rabbit_url, name) == depth


async def test_poison_ends_in_the_dlq_and_redrive_brings_it_back_once_fixed(rabbit_url, queue_name, fast_retries):
    await _declare(rabbit_url, queue_name)
    fixed = False
    attempts: list[int] = []
    done: list[int] = []

    async def handle(job: Job) -> None:
        attempts.append(job.n)
        if not fixed:
            raise ValueError("a bug in the consumer")
        done.append(job.n)

    broker = await _consuming(rabbit_url, queue_name, handle)
    try:
        await _publish(rabbit_url, queue_name, Job(n=7))
        await _until(lambda: _depth_is(rabbit_url, f"{queue_name}.dlq", 1), "the poison in its .dlq")
        assert attempts == [7] * topology.DELIVERY_LIMIT or len(attempts) >= topology.DELIVERY_LIMIT
        assert await _depth(rabbit_url, f"{queue_name}.retry") == 0  # poison is never parked for retry
        fixed = True  # the bug is deployed away
        assert await redrive(rabbit_url, f"{queue_name}.dlq") == 1
        await _until(lambda: asyncio.sleep(0, done == [7]), "the re-driven message handled")
        assert await _depth(rabbit_url, f"{queue_name}.dlq") == 0
    finally:
        await broker.stop()
        await _delete(rabbit_url, queue_name)
