"""An async REST client for the benchmark's setup and accounting: keeps cookies, sends the CSRF header."""

from collections.abc import Callable
from typing import Any

import httpx

from bench.loadgen import Prepared

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
Say = Callable[[str], None]  # where progress lines go


class BenchError(RuntimeError):
    """The system answered something the benchmark cannot go on from."""


class Client:
    def __init__(self, base_url: str, timeout: float = 60) -> None:
        # Idle connections are dropped before the server's 5 s keep-alive timeout would close them
        # under a request sent at that very moment ("server disconnected without a response").
        limits = httpx.Limits(keepalive_expiry=2)
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits)

    @property
    def csrf(self) -> str:
        return self.http.cookies.get("csrftoken") or ""

    def cookie_header(self) -> str:
        return f"sessionid={self.http.cookies.get('sessionid') or ''}; csrftoken={self.csrf}"

    def prepared(self, method: str, path: str, body: str = "") -> Prepared:
        """The same request for wrk, with this user's cookies and CSRF token."""
        return Prepared(method, path, self.cookie_header(), self.csrf if method in UNSAFE else "", body)

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        if method.upper() in UNSAFE and self.csrf:
            headers.setdefault("X-CSRFToken", self.csrf)
        return await self.http.request(method, url, headers=headers, **kw)

    async def expect(self, method: str, url: str, status: int, **kw: Any) -> Any:
        response = await self.request(method, url, **kw)
        if response.status_code != status:
            raise BenchError(f"{method} {url} answered {response.status_code}, expected {status}: {response.text[:500]}")
        return response.json() if response.content else None

    async def aclose(self) -> None:
        await self.http.aclose()
