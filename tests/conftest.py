"""Shared fixtures: real RabbitMQ and Redis, found or started by `devinfra`, isolated for tests.

Tests use their own RabbitMQ virtual host (`mobix_test`, when `rabbitmqctl` can create it) and
Redis database 15, so a `make run` on the same machine is left alone. `MOBIX_VHOST_SUFFIX` and
`REDIS_URL` (a Redis of its own) let two checkouts run their suites side by side.
"""

import os
import shutil
import subprocess
from urllib.parse import urlparse, urlunparse

import pytest
from devinfra.servers import describe, ensure_rabbitmq, ensure_redis, say
from devinfra.system import rabbitmqctl

TEST_VHOST = "mobix_test" + os.environ.get("MOBIX_VHOST_SUFFIX", "")


def _test_vhost_url(url: str) -> str:
    if shutil.which("rabbitmqctl") is None or urlparse(url).hostname not in {"127.0.0.1", "localhost"}:
        return url
    try:
        rabbitmqctl("-q", "add_vhost", TEST_VHOST)
        done = rabbitmqctl("-q", "set_permissions", "-p", TEST_VHOST, "guest", ".*", ".*", ".*")
    except (OSError, subprocess.TimeoutExpired):
        return url
    if done.returncode != 0:
        return url
    return urlunparse(urlparse(url)._replace(path=f"/{TEST_VHOST}"))


_servers: list = []


def _ensure_servers() -> list:
    """Find or start the servers once per run (the header reports them, fixtures use them)."""
    if not _servers:
        _servers.append(ensure_rabbitmq(os.environ.get("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")))
        _servers.append(ensure_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")))
    return _servers


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("soak")
    group.addoption("--soak", action="store_true", help="run the long soak test (tests/soak) instead of its short form")
    group.addoption("--soak-minutes", type=float, default=10.0, help="load duration of the long soak, in minutes")
    group.addoption("--soak-payments", type=int, default=300, help="payments in the payments soak (tests/payments)")


SERVER_FIXTURES = {"infra", "rabbit_url", "redis_url", "postgres_admin_url", "postgres_url"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs a real server (`-m "not servers"` is the fast unit tier)."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """Say in the run's output which servers the tests use and how they were found — and find or
    start them only when a selected test needs them."""
    if not any(item.get_closest_marker("servers") for item in items):
        return ["infra: no selected test needs RabbitMQ or Redis"]
    return [f"infra: {server.kind} {server.how} at {server.url}" for server in _ensure_servers()]


@pytest.fixture(scope="session")
def infra():
    rabbit, redis = _ensure_servers()
    describe([rabbit, redis])
    rabbit_url = _test_vhost_url(rabbit.url)
    redis_url = urlunparse(urlparse(redis.url)._replace(path="/15"))
    say(f"tests use {rabbit_url} and {redis_url}")
    yield {"rabbit_url": rabbit_url, "redis_url": redis_url}
    rabbit.stop()
    redis.stop()


@pytest.fixture(scope="session")
def rabbit_url(infra) -> str:
    return infra["rabbit_url"]


@pytest.fixture(scope="session")
def redis_url(infra) -> str:
    return infra["redis_url"]


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A PostgreSQL server (TEST_POSTGRES_URL, else the local one), found or started by devinfra."""
    import os

    from devinfra.servers import ensure_postgres, say

    server = ensure_postgres(os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"))
    say(f"PostgreSQL tests use {server.url}")
    return server.url


@pytest.fixture
async def postgres_url(postgres_admin_url):
    """A fresh database of its own, dropped afterwards; as an asyncpg SQLAlchemy URL."""
    from tests.support.postgres import fresh_database

    async with fresh_database(postgres_admin_url) as url:
        yield url
