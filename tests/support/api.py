"""A logged-in REST client for end-to-end tests: keeps cookies and sends the CSRF header."""

import itertools
import time
from typing import Any

import httpx
from devinfra.system import ADMIN_PASSWORD, ADMIN_PHONE, read_code, sms_url_for

_phones = itertools.count(1_000_000)


def new_phone() -> str:
    # Unique valid Iranian mobile numbers in E.164 (+98 912 xxx xxxx).
    # Modulo, not truncation: a truncated 8-digit number repeats for ten consecutive calls.
    return f"+98912{(next(_phones) + int(time.time()) % 1000 * 10_000) % 10**7:07d}"


class Api:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def _headers(self, method: str, headers: dict | None) -> dict:
        merged = dict(headers or {})
        token = self.http.cookies.get("csrftoken")
        if method.upper() not in {"GET", "HEAD", "OPTIONS"} and token:
            merged.setdefault("X-CSRFToken", token)
        return merged

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        kw["headers"] = self._headers(method, kw.get("headers"))
        return self.http.request(method, url, **kw)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)

    def register(self, phone: str | None = None, password: str = "correct horse battery", name: str = "Test User") -> dict:
        """A verified account, logged in: register (202), read the code from the system's SMS emulator,
        verify it with the registration id."""
        phone = phone or new_phone()
        response = self.post("/api/auth/register/", json={"phone_number": phone, "name": name, "password": password})
        assert response.status_code == 202, response.text
        registration_id = response.json()["registration_id"]
        code = read_code(sms_url_for(str(self.http.base_url)), phone)
        response = self.post("/api/auth/otp/verify/", json={
            "phone_number": phone, "code": code, "registration_id": registration_id,
        })
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_reply(self, session_id: int, user_message_id: str, timeout: float = 30) -> dict:
        """Poll the message list until the user message's reply has finished; return the list."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.get(f"/api/chat-sessions/{session_id}/messages/").json()["messages"]
            mine = next((m for m in messages if m["message_id"] == user_message_id), None)
            if mine and mine["reply_status"] in {"completed", "failed"}:
                return {"messages": messages, "user_message": mine}
            time.sleep(0.1)
        raise AssertionError(f"no reply for {user_message_id} within {timeout}s")


def staff_api(base_url: str) -> Api:
    """The staff user every test system starts with (MOBIX_ADMIN_PHONE), logged in."""
    client = Api(base_url)
    response = client.post("/api/auth/login/", json={"phone_number": ADMIN_PHONE, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return client
