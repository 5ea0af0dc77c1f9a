"""Users, sessions and sends for the fault tests, tolerant of the outages the tests cause."""

import time
from dataclasses import dataclass

import httpx
from devinfra.system import ADMIN_PASSWORD, ADMIN_PHONE, System

from tests.support.api import Api

PREMIUM = 3
GENERAL_ASSISTANT = 1
PAID_MODEL = "anthropic/claude-3-opus"  # paid: every exchange shows in session tokens and cost
UNAVAILABLE = {503, 504}  # the spec's "dependency unavailable or timed out"


@dataclass
class User:
    api: Api
    id: int
    session_id: int

    @property
    def session_url(self) -> str:
        return f"/api/chat-sessions/{self.session_id}"


def admin_client(system: System) -> Api:
    admin = Api(system.gateway_url)
    response = admin.post("/api/auth/login/", json={"phone_number": ADMIN_PHONE, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return admin


def premium_user(system: System, admin: Api) -> User:
    """A Premium user with one session on a paid model; titles off, so no title request ever
    reaches the emulator between a test's queued fault and the request it is meant for."""
    api = Api(system.gateway_url)
    user = api.register()
    upgraded = admin.post(f"/api/admin/users/{user['id']}/subscription/", json={"subscription_type_id": PREMIUM})
    assert upgraded.status_code == 200, upgraded.text
    created = api.post("/api/chat-sessions/", json={
        "chatbot_id": GENERAL_ASSISTANT, "ai_model_id": PAID_MODEL, "auto_generate_title": False,
    })
    assert created.status_code == 201, created.text
    return User(api, user["id"], created.json()["id"])


def send(user: User, text: str) -> dict:
    """Send and expect 201; answers the stored user message."""
    response = user.api.post(f"{user.session_url}/send/", json={"message": text})
    assert response.status_code == 201, response.text
    return response.json()["user_message"]


def messages(user: User, timeout: float = 60) -> list[dict]:
    """The session's messages, waiting out 503/504 while a service or the broker is down."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = user.api.get(f"{user.session_url}/messages/")
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return response.json()["messages"]
        if response is not None and response.status_code not in UNAVAILABLE:
            raise AssertionError(f"messages: {response.status_code} {response.text}")
        if time.monotonic() > deadline:
            raise AssertionError("messages stayed unavailable")
        time.sleep(0.3)


def wait_replied(user: User, message_ids: list[str], timeout: float = 90) -> list[dict]:
    """Poll until every one of these user messages has a finished reply; answers the message list."""
    deadline = time.monotonic() + timeout
    while True:
        listed = messages(user, timeout=max(1.0, deadline - time.monotonic()))
        status = {m["message_id"]: m.get("reply_status") for m in listed if m["message_type"] == "user"}
        if all(status.get(mid) in {"completed", "failed"} for mid in message_ids):
            return listed
        if time.monotonic() > deadline:
            raise AssertionError(f"replies not finished within {timeout}s: {status}")
        time.sleep(0.2)


def get_json(user: User, path: str, timeout: float = 60) -> dict | list:
    deadline = time.monotonic() + timeout
    while True:
        response = user.api.get(path)
        if response.status_code == 200:
            return response.json()
        assert response.status_code in UNAVAILABLE and time.monotonic() < deadline, (path, response.text)
        time.sleep(0.3)
