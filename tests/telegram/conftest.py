"""The whole system plus the Telegram emulator and the bot (webhook mode), as real processes."""

import itertools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
import redis
from devinfra.system import System, fresh_vhost

from tests.support.api import Api, new_phone, staff_api

_telegram_ids = itertools.count(int(time.time()) % 100_000 * 1000 + 10_000)


@pytest.fixture(scope="session")
def system(infra, tmp_path_factory):
    rabbit_url = fresh_vhost(infra["rabbit_url"], "mobix_telegram")
    redis_url = urlunparse(urlparse(infra["redis_url"])._replace(path="/13"))
    redis.Redis.from_url(redis_url).flushdb()
    # Edits 0.3 s apart (production: 1 s), so a reply of a second or two streams in several edits.
    running = System(tmp_path_factory.mktemp("system-telegram"), rabbit_url, redis_url, telegram=True,
                     extra_env={"TELEGRAM_EDIT_INTERVAL_SECONDS": "0.3"})
    with running.running():
        yield running


@pytest.fixture(scope="session")
def admin(system) -> Api:
    return staff_api(system.gateway_url)


class TelegramUser:
    """A Telegram user talking to the bot through the emulator."""

    def __init__(self, system: System, language: str = "en") -> None:
        self.system = system
        self.id = next(_telegram_ids)
        self.language = language
        self.phone = new_phone()
        self.http = httpx.Client(base_url=system.telegram_url, timeout=30)

    def post(self, kind: str, **fields: Any) -> dict:
        body = {"kind": kind, "user_id": self.id, "language_code": self.language, **fields}
        response = self.http.post("/emulator/updates", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def say(self, text: str) -> dict:
        return self.post("message", text=text)

    def share_contact(self, phone: str | None = None, contact_user_id: int | None = None) -> dict:
        return self.post("contact", phone_number=(phone or self.phone).lstrip("+"), contact_user_id=contact_user_id)

    def press(self, message_id: int, data: str) -> dict:
        return self.post("callback", message_id=message_id, data=data)

    def edit(self, message_id: int, text: str) -> dict:
        return self.post("edited", message_id=message_id, text=text)

    def messages(self) -> list[dict]:
        return self.http.get(f"/emulator/chats/{self.id}/messages").json()

    def wait(self, predicate: Callable[[list[dict]], Any], timeout: float = 30) -> Any:
        """Poll what the bot sent until `predicate` holds (returns its value)."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages()
            found = predicate(messages)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot never got there; it sent: {messages}")
            time.sleep(0.05)

    def wait_for_count(self, count: int, timeout: float = 30) -> list[dict]:
        return self.wait(lambda ms: ms if len(ms) >= count else None, timeout)

    def link(self) -> None:
        """The whole linking flow: /start, then the user's own contact."""
        before = len(self.messages())
        self.say("/start")
        self.wait_for_count(before + 1)
        self.share_contact()
        self.wait_for_count(before + 2)


def finished(message: dict) -> bool:
    """A reply is finished when its buttons turned from stop to regenerate."""
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or []
    return any(b.get("callback_data", "").startswith("regen:") for row in rows for b in row)


@pytest.fixture
def user(system) -> TelegramUser:
    return TelegramUser(system)
