"""The running system behind the API contract and security suites: every service as a real process in
their own RabbitMQ virtual host (`mobix_security`) and Redis database (11), plus client helpers.

One system at a time: a suite that changes the shared catalog (the schemathesis run, as staff) discards
it afterwards, and the next test gets a fresh one with the seed catalog.
"""

import itertools
import re
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import redis
from devinfra.system import System, fresh_vhost

from tests.support.api import Api, staff_api

VHOST = "mobix_security"
REDIS_DB = 11
FREE, BASIC, PREMIUM = 1, 2, 3
PASSWORD = "correct horse battery"


class SystemSlot:
    """Starts the system on first use; `discard()` stops it so the next `get()` starts a clean one."""

    def __init__(self, infra: dict, workdirs, database: str = "sqlite",  # workdirs: pytest's TempPathFactory
                 postgres_url: str | None = None) -> None:
        self.infra = infra
        self.workdirs = workdirs
        self.database = database  # "sqlite" | "postgresql": each service in a fresh database of its own
        self.postgres_url = postgres_url
        self.system: System | None = None
        self._admin: Api | None = None

    def get(self) -> System:
        if self.system is None:
            rabbit_url = fresh_vhost(self.infra["rabbit_url"], VHOST)
            redis_url = urlunparse(urlparse(self.infra["redis_url"])._replace(path=f"/{REDIS_DB}"))
            redis.Redis.from_url(redis_url).flushdb()
            # The tests stand in for a proxy on 127.0.0.1: X-Forwarded-For gives each its own client address.
            system = System(Path(self.workdirs.mktemp(f"system-{self.database}")), rabbit_url, redis_url,
                            extra_env={"FORWARDED_ALLOW_IPS": "127.0.0.1"},
                            database=self.database, postgres_url=self.postgres_url)
            try:
                system.start_all()
            except RuntimeError:
                system.stop_all()
                system.drop_databases()
                raise
            self.system = system
        return self.system

    def admin(self) -> Api:
        """The staff user of the current system, logged in once."""
        system = self.get()
        if self._admin is None:
            self._admin = staff_api(system.gateway_url)
        return self._admin

    def discard(self) -> None:
        if self.system is not None:
            self.system.stop_all()
            self.system.drop_databases()
        self.system, self._admin = None, None


# --- users ----------------------------------------------------------------------------------------

_numbers = itertools.count()
_run = int(time.time()) % 10_000


def new_phone() -> str:
    # Unique within a run (each system has its own database), valid Iranian mobile numbers.
    return f"+98935{_run % 1000:03d}{next(_numbers) % 10_000:04d}"


class Client(Api):
    """A logged-in user's client: its phone number and user object beside the cookies."""

    phone: str = ""
    user: dict | None = None

    @property
    def user_id(self) -> int:
        assert self.user is not None
        return self.user["id"]


def new_user(system: System, plan: int | None = None, admin: Api | None = None, name: str = "Test User") -> Client:
    """A registered, logged-in client; on `plan` (started by `admin`) when given."""
    client = Client(system.gateway_url)
    client.phone = new_phone()
    client.user = client.register(phone=client.phone, password=PASSWORD, name=name)
    if plan is not None and plan != FREE:
        assert admin is not None
        response = admin.post(f"/api/admin/users/{client.user['id']}/subscription/", json={"subscription_type_id": plan})
        assert response.status_code == 200, response.text
    return client


def anonymous(system: System) -> Api:
    return Api(system.gateway_url)


def bare(system: System) -> httpx.Client:
    """No cookies and no automatic CSRF header: for requests built entirely by hand."""
    return httpx.Client(base_url=system.gateway_url, timeout=30)


# --- conversations --------------------------------------------------------------------------------


def create_session(client: Api, chatbot_id: int = 1, **fields) -> dict:
    response = client.post("/api/chat-sessions/", json={"chatbot_id": chatbot_id, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def send(client: Api, session_id: int, text: str, **kw) -> httpx.Response:
    return client.post(f"/api/chat-sessions/{session_id}/send/", json={"message": text}, **kw)


def exchange(client: Api, session_id: int, text: str) -> dict:
    """Send and wait for the reply; returns {"messages", "user_message"} as `Api.wait_for_reply` does."""
    response = send(client, session_id, text)
    assert response.status_code == 201, response.text
    result = client.wait_for_reply(session_id, response.json()["user_message"]["message_id"], timeout=60)
    assert result["user_message"]["reply_status"] == "completed", result["user_message"]
    return result


# --- the OpenAPI document -------------------------------------------------------------------------

UNSAFE = ("post", "put", "patch", "delete")
PARAM = re.compile(r"\{(\w+)\}")


def operations(system: System) -> list[tuple[str, str, dict]]:
    """Every (METHOD, path template, operation) of the gateway's OpenAPI document."""
    schema = httpx.get(f"{system.gateway_url}/api/schema/", timeout=30).json()
    return [(method.upper(), path, op) for path, methods in schema["paths"].items() for method, op in methods.items()]


def fill(path: str, values: dict[str, object]) -> str:
    """The path template with its parameters filled in; every parameter must have a value."""
    return PARAM.sub(lambda m: str(values[m.group(1)]), path)
