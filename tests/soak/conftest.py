"""The soak test runs the whole system as real processes in its own RabbitMQ vhost `mobix_soak` and
Redis database 10 (one System per test, stopped at its end). `make test` runs the short form (under a
minute of load); `--soak` runs the long form instead (`--soak-minutes`, default 10)."""

import shutil
from urllib.parse import urlparse, urlunparse

import pytest
from devinfra.system import fresh_vhost, vhost_name

from tests.faults.exactly_once import Broker

VHOST = "mobix_soak"
REDIS_DB = 10


@pytest.fixture(scope="session")
def soak_redis_url(infra) -> str:
    return urlunparse(urlparse(infra["redis_url"])._replace(path=f"/{REDIS_DB}"))


@pytest.fixture
def soak_broker(infra) -> Broker:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("the soak test counts queue depths with rabbitmqctl, which is not installed here")
    return Broker(fresh_vhost(infra["rabbit_url"], VHOST), vhost_name(VHOST))
