"""The whole system as real processes, shared by the end-to-end tests of one pytest run."""

from urllib.parse import urlparse, urlunparse

import pytest
import redis
from devinfra.otlp import OtlpReceiver
from devinfra.system import System, fresh_vhost

from tests.support.api import Api, staff_api

PREMIUM = 3


@pytest.fixture(scope="session")
def otlp():
    receiver = OtlpReceiver()
    yield receiver
    receiver.close()


# The whole suite runs twice: on SQLite (what `make run` uses) and on PostgreSQL (production), each
# service in a fresh database of its own. One system at a time: pytest finishes every test on the
# first before it starts the second.
DATABASES = ("sqlite", "postgresql")


@pytest.fixture(scope="session", params=DATABASES)
def system(request, infra, tmp_path_factory, otlp):
    database = request.param
    postgres = request.getfixturevalue("postgres_admin_url") if database == "postgresql" else None
    rabbit_url = fresh_vhost(infra["rabbit_url"], "mobix_e2e")
    redis_url = urlunparse(urlparse(infra["redis_url"])._replace(path="/14"))
    redis.Redis.from_url(redis_url).flushdb()
    # Run as in production: JSON logs, spans exported (to the test's receiver, every 0.2 s).
    observed = {"LOG_JSON": "true", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "200"}
    running = System(tmp_path_factory.mktemp(f"system-{database}"), rabbit_url, redis_url, extra_env=observed,
                     database=database, postgres_url=postgres)
    try:
        running.start_all()
    except RuntimeError:
        running.stop_all()
        running.drop_databases()
        raise
    yield running
    running.stop_all()
    running.drop_databases()


@pytest.fixture(scope="session")
def admin(system) -> Api:
    return staff_api(system.gateway_url)


@pytest.fixture
def api(system) -> Api:
    """A client for a new user on the default (Free) plan; call `upgrade` for Premium."""
    return Api(system.gateway_url)


@pytest.fixture
def premium(system, admin) -> Api:
    """A registered, logged-in user on the Premium plan (room for multi-message flows)."""
    client = Api(system.gateway_url)
    user = client.register()
    response = admin.post(f"/api/admin/users/{user['id']}/subscription/", json={"subscription_type_id": PREMIUM})
    assert response.status_code == 200, response.text
    return client
