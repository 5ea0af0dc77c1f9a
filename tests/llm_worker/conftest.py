"""Fixtures for the llm-worker: an in-process OpenRouter emulator, a client aimed at it, and a
private RabbitMQ virtual host for worker tests."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
import httpx
import pytest
from devinfra.system import fresh_vhost
from llm_worker.client import OpenRouterClient, Sleep
from llm_worker.settings import WorkerSettings
from openrouter_emulator.server import EmulatorServer

from shared.broker import declare_topology, make_broker
from shared.cache import make_redis
from tests.llm_worker.support import DeltaLog
from tests.support import emulator_fixture

emulator = emulator_fixture.emulator  # a server per directory that imports it


@pytest.fixture
async def emulator_admin(emulator):
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as admin:
        await admin.delete("/_emulator/faults")
        await admin.delete("/_emulator/stats")
        yield admin


def worker_settings(emulator: EmulatorServer, **overrides) -> WorkerSettings:
    values = {
        "openrouter_base_url": emulator.base_url,
        "openrouter_referer": "https://mobixai.test",
        "openrouter_title": "MobixAI tests",
        "backoff_initial_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "generation_lookup_delay_seconds": 0.01,
        "first_token_timeout_seconds": 10,
        "reply_timeout_seconds": 30,
    }
    values.update(overrides)
    return WorkerSettings(**values)


class SleepRecorder:
    """Stands in for asyncio.sleep: records the back-off pauses instead of waiting them out."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@asynccontextmanager
async def openrouter_client(emulator: EmulatorServer, sleep: Sleep = asyncio.sleep,
                            **overrides) -> AsyncIterator[OpenRouterClient]:
    """A client aimed at the emulator (`worker_settings` with `overrides`), closed on the way out."""
    client = OpenRouterClient(worker_settings(emulator, **overrides), sleep=sleep)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def client(emulator, emulator_admin, sleeps):
    async with openrouter_client(emulator, sleeps) as openrouter:
        yield openrouter


@pytest.fixture(scope="session")
def vhost_url(rabbit_url) -> str:
    # A private virtual host: our reply events never reach other tests' chat/billing queues.
    return fresh_vhost(rabbit_url, "mobix_llm_worker_test")


@pytest.fixture(scope="session")
async def amqp(vhost_url):
    broker = make_broker(vhost_url)
    await broker.connect()
    await declare_topology(broker)  # the work queues exist before any worker starts
    await broker.stop()
    connection = await aio_pika.connect_robust(vhost_url)
    yield connection
    await connection.close()


@pytest.fixture
async def deltas(redis_url):
    redis = make_redis(redis_url)
    yield DeltaLog(redis)
    await redis.aclose()
