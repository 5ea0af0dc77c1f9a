"""The client's address and scheme (api.md §2 "Client IP"): the TCP peer, unless that peer is one of the
trusted proxies of `FORWARDED_ALLOW_IPS`; only then are `X-Forwarded-For` and `X-Forwarded-Proto` read.

`X-Forwarded-For` is read from the right: each proxy appends the address it saw, so the entries a
trusted proxy wrote are at the end and anything a client sent is to their left. The first entry that
is not a trusted proxy is the client. Done here, in the app, rather than by uvicorn, so that every way
of serving the app (and every test) applies the same rule, and uvicorn's own default of trusting
127.0.0.1 cannot apply.
"""

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """`"10.0.0.1, 10.1.0.0/16, ::1"` → networks; a bare address is a /32 (/128); `*` is every address
    (only for a gateway that nothing but its proxies can reach). Raises ValueError."""
    items = [item.strip() for item in (value.split(",") if isinstance(value, str) else value)]
    if "*" in items:
        items = [item for item in items if item != "*"] + ["0.0.0.0/0", "::/0"]
    return tuple(ipaddress.ip_network(item, strict=False) for item in items if item)


class TrustedProxies:
    def __init__(self, networks: tuple[Network, ...]) -> None:
        self.networks = networks

    def __contains__(self, host: str | None) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.networks)

    def client_from(self, peer: str, forwarded_for: str) -> str:
        """The client address behind a trusted `peer`, from its X-Forwarded-For value."""
        client = peer
        for entry in reversed([part.strip() for part in forwarded_for.split(",")]):
            address = _address(_strip_port(entry))
            if address is None:
                break  # not an address: stop at the last hop known to be a real one
            client = str(address)
            if client not in self:
                break
        return client


class ProxyHeadersMiddleware:
    """Rewrites the scope's `client` and `scheme` for requests that came through a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted.networks:
            peer = scope.get("client")
            if peer and peer[0] in self.trusted:
                headers = Headers(scope=scope)
                forwarded_for = ",".join(headers.getlist("x-forwarded-for"))
                if forwarded_for.strip():
                    scope["client"] = (self.trusted.client_from(peer[0], forwarded_for), 0)
                # The nearest proxy's word for the scheme it was reached by (the rightmost value).
                proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto
        await self.app(scope, receive, send)


def client_ip(connection: HTTPConnection) -> str:
    """The one client address the gateway uses for everything (login throttle, SMS caps, logs)."""
    return connection.client.host if connection.client else "unknown"


def _address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not host:
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _strip_port(entry: str) -> str:
    """`"[::1]:80"` → `"::1"`, `"1.2.3.4:80"` → `"1.2.3.4"`; anything else unchanged."""
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry
