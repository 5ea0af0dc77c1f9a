"""Helpers of the gateway tests: an SMS provider that keeps codes, HTTP clients, common calls."""

import random

import httpx
from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI
from gateway.deps import CurrentUser
from gateway.phones import normalize_phone

PASSWORD = "correct horse battery"
# Argon2 at its cheapest: the tests exercise the flow, not the hash's cost.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class MemorySms:
    """Keeps every code "sent", so tests read them instead of parsing logs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = False

    async def send_code(self, phone_number: str, code: str) -> None:
        if self.fail:
            raise ConnectionError("SMS gateway down")
        self.sent.append((phone_number, code))

    def last_code(self, phone_number: str) -> str:
        codes = [code for phone, code in self.sent if phone == phone_number]
        assert codes, f"no code was sent to {phone_number}"
        return codes[-1]


def client_for(app: FastAPI, base_url: str = "http://testserver", ip: str | None = None) -> httpx.AsyncClient:
    # A random client address per client, so per-IP login throttling never leaks between tests.
    ip = ip or f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


def probe_router() -> APIRouter:
    """Test-only routes under /api/test-probe/, for tests of who may call an API at all: a POST that
    needs a logged-in user (and so, from a cookie session, a CSRF header). A test may add its own."""
    probe = APIRouter(prefix="/api/test-probe")

    @probe.post("/")
    async def poke(user: CurrentUser) -> dict:
        return {"user_id": user.id}

    return probe


def csrf(http: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRFToken": http.cookies["csrftoken"]}


def sms_of(http: httpx.AsyncClient) -> MemorySms:
    """The in-process SMS provider of the app `http` talks to (a client made by `client_for`)."""
    app = http._transport.app  # type: ignore[attr-defined]  # httpx.ASGITransport
    return app.state.runtime.auth.sms


async def start_registration(http: httpx.AsyncClient, phone: str, name: str = "Sara",
                             password: str = PASSWORD) -> str:
    """`POST /api/auth/register/` (202); returns the registration id."""
    response = await http.post("/api/auth/register/", json={"phone_number": phone, "name": name, "password": password})
    assert response.status_code == 202, response.text
    return response.json()["registration_id"]


async def complete_registration(http: httpx.AsyncClient, phone: str, name: str = "Sara",
                                password: str = PASSWORD, slash: str = "/") -> httpx.Response:
    """Register, then verify the code the in-process SMS provider received, with the registration id;
    the verify's answer (200, login cookies)."""
    response = await http.post(f"/api/auth/register{slash}",
                               json={"phone_number": phone, "name": name, "password": password})
    assert response.status_code == 202, response.text
    code = sms_of(http).last_code(normalize_phone(phone, "IR"))
    response = await http.post(f"/api/auth/otp/verify{slash}", json={
        "phone_number": phone, "code": code, "registration_id": response.json()["registration_id"],
    })
    assert response.status_code == 200, response.text
    return response


async def register(http: httpx.AsyncClient, phone: str, name: str = "Sara", password: str = PASSWORD) -> dict:
    """A verified account with this password, logged in (the user object)."""
    return (await complete_registration(http, phone, name, password)).json()
