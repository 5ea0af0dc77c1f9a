"""Fault tests run the whole system as real processes in vhost `mobix_faults` and Redis db 12; one System
per test module (stopped at its end), so two Systems never share that Redis database."""

import shutil
from urllib.parse import urlparse, urlunparse

import pytest
from devinfra.system import fresh_vhost, vhost_name

from tests.faults.exactly_once import Broker
from tests.faults.processes import start_system
from tests.faults.workload import admin_client

VHOST = "mobix_faults"
REDIS_DB = 12


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "broker_restart: restarts a private RabbitMQ node (the slowest fault test)")


@pytest.fixture(scope="session")
def faults_redis_url(infra) -> str:
    return urlunparse(urlparse(infra["redis_url"])._replace(path=f"/{REDIS_DB}"))


@pytest.fixture(scope="module")
def broker(infra) -> Broker:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("fault tests count queue depths with rabbitmqctl, which is not installed here")
    return Broker(fresh_vhost(infra["rabbit_url"], VHOST), vhost_name(VHOST))


@pytest.fixture(scope="module")
def system(broker, faults_redis_url, tmp_path_factory):
    running = start_system(tmp_path_factory.mktemp("faults"), broker.url, faults_redis_url)
    yield running
    running.stop_all()


@pytest.fixture(scope="module")
def admin(system):
    return admin_client(system)
