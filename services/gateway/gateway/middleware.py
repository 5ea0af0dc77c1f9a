"""Pure-ASGI plumbing around every request: request ids, metrics, the last-resort 503, optional
trailing slashes, the 1 MiB body limit (chunked bodies included), OPTIONS/HEAD and nosniff."""

import logging
import re
import time
import uuid
from collections.abc import Callable

from opentelemetry import trace
from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import MAX_BODY_BYTES, BodyTooLarge, too_large, unavailable
from shared.logs import request_id_var

log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces


class HttpMiddleware:
    """A middleware for HTTP requests only: lifespan and websocket scopes pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def on_response_start(send: Send, see: Callable[[Message], None]) -> Send:
    """`send`, letting `see` read (or add headers to) the status line before it goes out."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            see(message)
        await send(message)

    return sending


class RequestIdMiddleware(HttpMiddleware):
    """Every response carries X-Request-ID: the client's own when it sent a sane one, else a new one."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = Headers(scope=scope).get("x-request-id")
        request_id = given if given is not None and _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        # Lets operators find a request's trace from the X-Request-ID a client reports.
        trace.get_current_span().set_attribute("mobix.request_id", request_id)

        def add_id(message: Message) -> None:
            MutableHeaders(scope=message)["X-Request-ID"] = request_id

        try:
            await self.app(scope, receive, on_response_start(send, add_id))
        finally:
            request_id_var.reset(token)


REQUESTS = Counter("gateway_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("gateway_http_request_duration_seconds", "Time to answer (whole response)", ["method", "route"])


class MetricsMiddleware(HttpMiddleware):
    """Request counts and latency per route template (never per raw path: ids would explode the labels)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        def record(message: Message) -> None:
            nonlocal status
            status = message["status"]

        try:
            await self.app(scope, receive, on_response_start(send, record))
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def _too_large(scope: Scope) -> Response:
    return too_large(scope["app"].state.catalogue, Headers(scope=scope).get("accept-language"))


class CatchAllMiddleware(HttpMiddleware):
    """Whatever escapes the exception handlers is logged and answered 503 `unavailable`, never 500."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        def track(message: Message) -> None:
            nonlocal started
            started = True

        try:
            await self.app(scope, receive, on_response_start(send, track))
        except Exception as exc:
            if isinstance(exc, BodyTooLarge) and not started:
                await _too_large(scope)(scope, receive, send)
                return
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                return  # the status line is gone; the server ends the incomplete response
            response = unavailable(scope["app"].state.catalogue, Headers(scope=scope).get("accept-language"))
            await response(scope, receive, send)


class TrailingSlashMiddleware:
    """Every route works with or without its trailing slash, with no redirect (a redirected POST loses
    its body in many clients). API routes are declared with the slash; health routes without."""

    def __init__(self, app: ASGIApp, api_prefix: str = "/api/", bare: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.api_prefix = api_prefix
        self.bare = bare or frozenset({"/healthz", "/readyz"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(self.api_prefix) and not path.endswith("/"):
                self._rewrite(scope, path + "/")
            elif len(path) > 1 and path.endswith("/") and path.rstrip("/") in self.bare:
                self._rewrite(scope, path.rstrip("/"))
        await self.app(scope, receive, send)

    @staticmethod
    def _rewrite(scope: Scope, path: str) -> None:
        # In place: outer middlewares read what routing stores in the scope (the matched route).
        scope["path"] = path
        raw = scope.get("raw_path")
        if raw is not None:
            scope["raw_path"] = raw + b"/" if path.endswith("/") else raw.rstrip(b"/")


class BodyLimitMiddleware(HttpMiddleware):
    """413 for a body over the limit: at once from Content-Length, or while a chunked body streams in.

    A chunked body (no Content-Length) is read here, before the route runs, and handed on whole: routes
    that never read their body (logout, stop, regenerate) would otherwise accept any size unnoticed.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(scope)(scope, receive, send)
            return
        if declared is None and "transfer-encoding" in headers:
            body = await self._read_chunked(receive)
            if body is None:
                await _too_large(scope)(scope, receive, send)
                return
            receive = _replay(body, receive)
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        await self.app(scope, receive_limited, send)

    async def _read_chunked(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it is over the limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(parts)  # the client went away: the next receive() reports it again
            part = message.get("body", b"")
            size += len(part)
            if size > self.max_bytes:
                return None
            parts.append(part)
            if not message.get("more_body", False):
                return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as they would have

    return replay


class NoSniffMiddleware(HttpMiddleware):
    """`X-Content-Type-Options: nosniff` on every answer (errors and media included): a browser must never
    run an uploaded or echoed file as a script or a page because its bytes look like one."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        def nosniff(message: Message) -> None:
            MutableHeaders(scope=message)["X-Content-Type-Options"] = "nosniff"

        await self.app(scope, receive, on_response_start(send, nosniff))


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(scope: Scope) -> list[str] | None:
    """The methods the app's routes serve at this path (with HEAD beside GET, and OPTIONS), or None when
    no route has the path. Asks every route whether it fully matches each method: Starlette's own 405
    names only the first route of the path."""
    routes = scope["app"].router.routes
    methods: set[str] = set()
    found = False
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        for route in routes:
            match, _ = route.matches({**scope, "method": method})
            if match == Match.NONE:
                continue
            found = True
            if isinstance(route, Mount):
                methods.add("GET")  # mounted files (media) are read-only
            elif match == Match.FULL:
                methods.add(method)
    if not found:
        return None
    if "GET" in methods:
        methods.add("HEAD")
    methods.add("OPTIONS")
    return [method for method in METHODS if method in methods]


class MethodsMiddleware(HttpMiddleware):
    """OPTIONS answers 204 with the path's real `Allow` (404 for a path no route has); HEAD is served as
    the GET of the same path (the server sends no body for HEAD); a 405 names every allowed method."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in ("OPTIONS", "HEAD"):
            methods = allowed_methods(scope)
            if methods is not None and scope["method"] == "OPTIONS":
                await Response(status_code=204, headers={"Allow": ", ".join(methods)})(scope, receive, send)
                return
            if methods is not None and "GET" in methods:
                # A copy: the server reads the method of its own scope to leave the body out.
                await self.app({**scope, "method": "GET"}, receive, _without_body(send))
                return

        # Routing rewrites the scope's path in place when it enters a mount: keep the request's own.
        path, root_path = scope["path"], scope.get("root_path", "")

        def allow(message: Message) -> None:
            if message["status"] == 405:
                methods = allowed_methods({**scope, "path": path, "root_path": root_path})
                if methods:
                    MutableHeaders(scope=message)["Allow"] = ", ".join(methods)

        await self.app(scope, receive, on_response_start(send, allow))


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head
