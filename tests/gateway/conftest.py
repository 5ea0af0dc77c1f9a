"""Gateway fixtures: the real app (lifespan and all) over real RabbitMQ and Redis, a fresh SQLite
database per test, a frozen clock, a cheap password hasher and an SMS provider that keeps the codes.

The gateway's tests run in their own RabbitMQ virtual host, so the `UserRegistered` events they
publish never reach another suite's billing consumer.
"""

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from devinfra.system import fresh_vhost
from fastapi import FastAPI
from gateway.app import create_app
from gateway.settings import GatewaySettings

from shared.cache import make_redis
from shared.clock import FrozenClock
from tests.gateway.support import CHEAP_HASHER, MemorySms, client_for


@pytest.fixture(scope="session")
def gateway_rabbit_url(rabbit_url: str) -> str:
    return fresh_vhost(rabbit_url, "mobix_gateway_test")


@pytest.fixture
async def redis(redis_url):
    client = make_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_prefix(redis) -> AsyncIterator[str]:
    """A Redis key prefix of the test's own; its keys are removed afterwards."""
    prefix = f"mobix:test:{uuid.uuid4().hex}:"
    yield prefix
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
async def phones(redis) -> AsyncIterator[Callable[[], str]]:
    """Fresh valid Iranian mobile numbers (E.164); their Redis counters are removed afterwards."""
    handed_out: list[str] = []
    start = random.randrange(10**7)

    def new_phone() -> str:
        phone = f"+98912{(start + len(handed_out)) % 10**7:07d}"
        handed_out.append(phone)
        return phone

    yield new_phone
    for phone in handed_out:
        keys = [k async for k in redis.scan_iter(match=f"mobix:gw:*{phone}")]
        if keys:
            await redis.delete(*keys)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def sms() -> MemorySms:
    return MemorySms()


@pytest.fixture
def gateway_settings(tmp_path, gateway_rabbit_url, redis_url) -> Callable[..., GatewaySettings]:
    def build(**overrides: Any) -> GatewaySettings:
        values = {
            "ENVIRONMENT": "test",
            "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
            "RABBIT_URL": gateway_rabbit_url,
            "REDIS_URL": redis_url,
            "MEDIA_ROOT": str(tmp_path / "media"),
            "RPC_TIMEOUT_SECONDS": 2,
            # Many tests register from one address within the hour; the cap tests set their own.
            "SMS_PER_IP_HOURLY": 1_000_000,
            "SMS_GLOBAL_HOURLY": 1_000_000,
            # The clients of tests.gateway.support call the app as http://testserver.
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            **overrides,
        }
        return GatewaySettings(**values)

    return build


@pytest.fixture
async def start_gateway(gateway_settings, clock, sms) -> AsyncIterator[Callable[..., Awaitable[FastAPI]]]:
    """Start a gateway app (its lifespan runs); every app started is shut down after the test."""
    async with AsyncExitStack() as stack:

        async def start(app: FastAPI | None = None, **overrides: Any) -> FastAPI:
            if app is None:
                app = create_app(gateway_settings(**overrides), clock=clock, sms=sms, password_hasher=CHEAP_HASHER)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return app

        yield start


@pytest.fixture
def build_gateway(gateway_settings, clock, sms) -> Callable[..., FastAPI]:
    """An app not started yet, for tests that add routes before it starts."""

    def build(**overrides: Any) -> FastAPI:
        return create_app(gateway_settings(**overrides), clock=clock, sms=sms, password_hasher=CHEAP_HASHER)

    return build


@pytest.fixture
async def gateway(start_gateway) -> FastAPI:
    return await start_gateway()


@pytest.fixture
async def client(gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(gateway) as http:
        yield http
