"""Helpers of the gateway tests: an SMS provider that keeps codes, HTTP clients, common calls."""

import random

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI

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


def csrf(http: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRFToken": http.cookies["csrftoken"]}


async def register(http: httpx.AsyncClient, phone: str, name: str = "Sara", password: str = PASSWORD) -> dict:
    response = await http.post("/api/auth/register/", json={"phone_number": phone, "name": name, "password": password})
    assert response.status_code == 201, response.text
    return response.json()
