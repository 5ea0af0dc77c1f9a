"""Find a running server, else start one: testcontainers when a Docker engine answers, else the
local package (installed with apt-get when missing). Every step says what it did."""

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

RAFT_WAL_MAX_BYTES = 32_000_000  # as deploy/rabbitmq/20-mobix.conf sets it


def say(message: str) -> None:
    print(f"[infra] {message}", file=sys.stderr, flush=True)


@dataclass
class Server:
    kind: str
    url: str
    how: str  # "running" | "started locally" | "testcontainers"
    handle: Any = field(default=None, repr=False)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()


def _reachable(url: str, timeout: float = 1.0) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout):
            return True
    except OSError:
        return False


def _is_local(url: str) -> bool:
    return (urlparse(url).hostname or "") in {"127.0.0.1", "localhost", "::1"}


def docker_engine_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _apt_install(package: str, binary: str) -> None:
    if shutil.which(binary) or os.path.exists(binary):
        return
    if shutil.which("apt-get") is None:
        raise SystemExit(f"{package} is not installed and apt-get is missing: install {package} and retry")
    say(f"{package} is not installed; installing it with apt-get (a minute or two)…")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", package], check=True, env=env)


def _wait(url: str, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    last_note = 0.0
    while time.monotonic() < deadline:
        if _reachable(url):
            return
        if time.monotonic() - last_note > 10:
            say(f"waiting for {what} at {url}…")
            last_note = time.monotonic()
        time.sleep(0.5)
    raise SystemExit(f"{what} did not come up at {url} within {seconds:.0f}s; check its log and retry")


def ensure_redis(url: str) -> Server:
    if _reachable(url):
        return Server("Redis", url, "running")
    if docker_engine_available():
        from testcontainers.redis import RedisContainer

        say("starting Redis with testcontainers…")
        container = RedisContainer("redis:7-alpine").start()
        new_url = f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
        return Server("Redis", new_url, "testcontainers", container)
    if not _is_local(url):
        raise SystemExit(f"Redis at {url} is unreachable; start it or set REDIS_URL")
    _apt_install("redis-server", "redis-server")
    port = urlparse(url).port or 6379
    say(f"starting a local redis-server on port {port}…")
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
         "--save", "", "--appendonly", "no"],
        check=True,
    )
    _wait(url, "Redis", 30)
    return Server("Redis", url, "started locally")


def ensure_rabbitmq(url: str) -> Server:
    if _reachable(url):
        return Server("RabbitMQ", url, "running")
    if docker_engine_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        say("starting RabbitMQ with testcontainers…")
        container = RabbitMqContainer("rabbitmq:3.13-management").start()
        host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
        return Server("RabbitMQ", f"amqp://guest:guest@{host}:{port}/", "testcontainers", container)
    if not _is_local(url):
        raise SystemExit(f"RabbitMQ at {url} is unreachable; start it or set RABBIT_URL")
    _apt_install("rabbitmq-server", "/usr/sbin/rabbitmq-server")
    say("starting a local rabbitmq-server (this takes 10-30 s)…")
    # The Raft WAL bound of deploy/rabbitmq/20-mobix.conf: a long run must not leave quorum queue
    # bodies in memory up to the 512 MiB default.
    env = {**os.environ, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": f"-ra wal_max_size_bytes {RAFT_WAL_MAX_BYTES}"}
    subprocess.run(["rabbitmq-server", "-detached"], check=False, env=env)
    _wait(url, "RabbitMQ", 120)
    time.sleep(2)  # the port opens slightly before the broker accepts logins
    return Server("RabbitMQ", url, "started locally")


def ensure_postgres(url: str) -> Server:
    """PostgreSQL for the migration check (`postgresql://user@host:port/db`)."""
    if _reachable(url):
        return Server("PostgreSQL", url, "running")
    if docker_engine_available():
        from testcontainers.postgres import PostgresContainer

        say("starting PostgreSQL with testcontainers…")
        container = PostgresContainer("postgres:16-alpine", driver="asyncpg").start()
        return Server("PostgreSQL", container.get_connection_url(), "testcontainers", container)
    if not _is_local(url):
        raise SystemExit(f"PostgreSQL at {url} is unreachable; start it or set TEST_POSTGRES_URL")
    _apt_install("postgresql", "/usr/bin/pg_ctlcluster")
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        raise SystemExit("PostgreSQL is installed but has no cluster; run pg_createcluster and retry")
    say("starting the local PostgreSQL cluster…")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False
    )
    _wait(url, "PostgreSQL", 60)
    return Server("PostgreSQL", url, "started locally")


def describe(servers: list[Server]) -> None:
    for server in servers:
        say(f"{server.kind}: {server.how} at {server.url}")
