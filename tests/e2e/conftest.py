"""The whole system as real processes, shared by the end-to-end tests of one pytest run."""

from urllib.parse import urlparse, urlunparse

import pytest
import redis

from tests.support.api import Api
from devinfra.system import System, fresh_vhost


@pytest.fixture(scope="session")
def system(infra, tmp_path_factory):
    rabbit_url = fresh_vhost(infra["rabbit_url"], "mobix_e2e")
    redis_url = urlunparse(urlparse(infra["redis_url"])._replace(path="/14"))
    redis.Redis.from_url(redis_url).flushdb()
    running = System(tmp_path_factory.mktemp("system"), rabbit_url, redis_url)
    try:
        running.start_all()
    except RuntimeError:
        running.stop_all()
        raise
    yield running
    running.stop_all()


@pytest.fixture
def api(system) -> Api:
    return Api(system.gateway_url)
