"""The servers a benchmark command runs the system against: RabbitMQ and Redis found or started
(devinfra.servers), a fresh vhost, and the bench's own Redis database emptied so nothing of an earlier
run leaks in. What was started here is stopped on the way out."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse, urlunparse

import redis
from devinfra.servers import ensure_rabbitmq, ensure_redis
from devinfra.system import fresh_vhost

from bench.config import REDIS_DB, VHOST

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class BenchServers:
    rabbit_url: str  # of the fresh vhost
    redis_url: str  # of the emptied database


@contextmanager
def bench_servers(vhost: str = VHOST, redis_db: int = REDIS_DB) -> Iterator[BenchServers]:
    rabbit = ensure_rabbitmq(os.environ.get("RABBIT_URL", RABBIT_URL))
    cache = ensure_redis(os.environ.get("REDIS_URL", REDIS_URL))
    try:
        redis_url = urlunparse(urlparse(cache.url)._replace(path=f"/{redis_db}"))
        redis.Redis.from_url(redis_url).flushdb()
        yield BenchServers(fresh_vhost(rabbit.url, vhost), redis_url)
    finally:
        rabbit.stop()
        cache.stop()
