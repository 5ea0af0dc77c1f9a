"""The MobixAI REST API as this bot uses it: every call carries the Telegram user's own API token
(`Authorization: Bearer`) and their language (`Accept-Language`, so denials come back localized)."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class ApiError(Exception):
    status: int
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """The API's own (localized) text for the failure."""
        return str(self.body.get("error") or self.body.get("detail") or f"HTTP {self.status}")

    @property
    def code(self) -> str | None:
        return self.body.get("code")


@dataclass
class Event:
    name: str
    data: dict[str, Any]


class MobixApi:
    def __init__(self, base_url: str, service_token: str | None, timeout: float = 30) -> None:
        self.service_token = service_token
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                      limits=httpx.Limits(max_connections=500))

    async def aclose(self) -> None:
        await self.http.aclose()

    @staticmethod
    def _headers(token: str | None, lang: str) -> dict[str, str]:
        headers = {"Accept-Language": lang}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def call(self, method: str, path: str, token: str | None, lang: str = "en", **kwargs: Any) -> Any:
        response = await self.http.request(method, path, headers={**self._headers(token, lang),
                                                                   **kwargs.pop("headers", {})}, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text[:200]}
            raise ApiError(response.status_code, body if isinstance(body, dict) else {"detail": str(body)})
        return response.json() if response.content else None

    async def link(self, phone: str, telegram_user_id: int, name: str, lang: str) -> str:
        """A new API token for the account of this phone (the bot's service credential)."""
        body = await self.call("POST", "/api/auth/telegram/link/", None, lang,
                               json={"phone_number": phone, "telegram_user_id": telegram_user_id, "name": name},
                               headers={"X-Service-Token": self.service_token or ""})
        return body["token"]

    async def stream(self, token: str, lang: str, session_id: int, idle_seconds: float) -> AsyncIterator[Event]:
        """The session's Server-Sent Events (api.md §5), parsed; yields a `ready` event once connected."""
        timeout = httpx.Timeout(10, read=idle_seconds)
        async with self.http.stream("GET", f"/api/chat-sessions/{session_id}/stream/",
                                    headers=self._headers(token, lang), timeout=timeout) as response:
            if response.status_code >= 400:
                await response.aread()
                raise ApiError(response.status_code, response.json())
            yield Event("ready", {})
            name, data = "message", []
            async for line in response.aiter_lines():
                if not line:
                    if data:
                        yield Event(name, json.loads("\n".join(data)))
                    name, data = "message", []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
