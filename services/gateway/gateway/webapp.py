"""The browser web app (webapp/, built by Vite into WEBAPP_DIR), served at `/` on the API's origin.

Pure ASGI in front of the API: GET/HEAD of the app's own paths are answered here, everything else
passes through untouched (so unknown routes keep the API's JSON 404 and 405).
- `/assets/*`: Vite's content-hashed files, cached for a year (`immutable`): a new build has new names.
- other files at the top of the build (favicon): cached for an hour.
- the app's client routes (`/`, `/chat/12`, `/usage`, the staff console under `/admin`, …; the same list as webapp/src/app.js):
  index.html, never cached, so a deploy is seen on the next load.
Every answer carries the Content-Security-Policy: scripts only from this origin, no inline script
or style attribute, no eval, no framing; model output that slipped through the sanitiser still could
not run. One page widens it: the Stripe payment page (`/pay/stripe/`) may load Stripe.js from
STRIPE_JS_URL's origin (and, for Stripe's own, its frames and API) — no other page can. Text assets are gzipped once per file and kept in memory (the gateway has no compressor).
"""

import gzip
import mimetypes
import re
from pathlib import Path
from urllib.parse import urlparse

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

# The app's pages (webapp/src/app.js `Main` and the sign-in screens); any other path is the API's.
CLIENT_ROUTE = re.compile(
    r"^/(?:login|signup|new|usage|plan|payments/return|pay/stripe|chat/\d{1,20}"
    r"|admin(?:/(?:plans|models|chatbots|users|discounts|payments|audit))?)?/?$"
)
STRIPE_PAGE = re.compile(r"^/pay/stripe/?$")
# Stripe's documented sources for Stripe.js (docs.stripe.com/security/guide#content-security-policy).
STRIPE_JS_HOST = "js.stripe.com"
STRIPE_SOURCES = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
}
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=3600"
NO_CACHE = "no-cache"
_COMPRESSIBLE = (".js", ".css", ".html", ".svg", ".json", ".txt", ".map")
_NOT_BUILT = ("The web app is not built: `make run` builds it "
              "(or `npm --prefix webapp ci && npm --prefix webapp run build`).")


def _origin(url: str) -> str | None:
    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in {"http", "https"} and parts.netloc else None


def stripe_sources(stripe_js_url: str) -> dict[str, list[str]]:
    """What the Stripe page adds to the policy: Stripe's own sources for Stripe.js, or for a stand-in
    (localstripe's, offline) its origin, which it loads from and confirms with."""
    origin = _origin(stripe_js_url)
    if origin is None:
        return {}
    if urlparse(stripe_js_url).hostname == STRIPE_JS_HOST:
        return STRIPE_SOURCES
    return {"script-src": [origin], "connect-src": [origin]}


def content_security_policy(media_base_url: str, extra: dict[str, list[str]] | None = None) -> str:
    """The policy of every web-app answer; images may also come from a media server of their own, and
    `extra` adds sources to a directive (the Stripe page)."""
    extra = extra or {}
    images = ["'self'", "data:", "blob:"]
    media = _origin(media_base_url)
    if media:
        images.append(media)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": images,
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    for name, sources in extra.items():
        directives[name] = directives[name] + [s for s in sources if s not in directives[name]]
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class WebAppMiddleware:
    def __init__(self, app: ASGIApp, directory: str | Path, media_base_url: str = "/media/",
                 stripe_js_url: str = "") -> None:
        self.app = app
        self.root = Path(directory).resolve()
        self.headers = {
            "Content-Security-Policy": content_security_policy(media_base_url),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY",
        }
        self.stripe_headers = {**self.headers, "Content-Security-Policy": content_security_policy(
            media_base_url, stripe_sources(stripe_js_url))}
        self._gzipped: dict[tuple[Path, float], bytes] = {}

    def _ours(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in {"GET", "HEAD"}:
            return False  # lifespan and websocket scopes, and every write, belong to the API
        path: str = scope["path"]
        if path.startswith("/assets/") or CLIENT_ROUTE.match(path):
            return True
        return "/" not in path[1:] and self._file(path) is not None  # favicon.svg and the like

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._ours(scope):
            await self.app(scope, receive, send)
            return
        response = self._answer(scope["path"], Headers(scope=scope))
        await response(scope, receive, send)

    def _file(self, path: str) -> Path | None:
        """The build's file at `path`, or None (also for anything that escapes the build folder)."""
        candidate = (self.root / path.lstrip("/")).resolve()
        if candidate.is_relative_to(self.root) and candidate.is_file():
            return candidate
        return None

    def _answer(self, path: str, headers: Headers) -> Response:
        index = self._file("index.html")
        if index is None:
            return PlainTextResponse(_NOT_BUILT, status_code=503, headers={"Retry-After": "60"})
        if path.startswith("/assets/"):
            found = self._file(path)
            if found is None:  # an old page asking for a previous build's file: do not answer HTML
                return PlainTextResponse("Not found.", status_code=404, headers=self.headers)
            return self._send(found, IMMUTABLE, headers)
        if STRIPE_PAGE.match(path):
            return self._send(index, NO_CACHE, headers, self.stripe_headers)
        if CLIENT_ROUTE.match(path):
            return self._send(index, NO_CACHE, headers)
        found = self._file(path)
        if found is None or found.name == "index.html":
            return self._send(index, NO_CACHE, headers)
        return self._send(found, SHORT, headers)

    def _send(self, file: Path, cache: str, request_headers: Headers, page_headers: dict | None = None) -> Response:
        media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type in {"application/javascript", "image/svg+xml"}:
            media_type += "; charset=utf-8"
        headers = {**(page_headers or self.headers), "Cache-Control": cache, "Vary": "Accept-Encoding"}
        body = file.read_bytes()
        if file.suffix in _COMPRESSIBLE and "gzip" in request_headers.get("accept-encoding", ""):
            body = self._gzip(file, body)
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=media_type, headers=headers)

    def _gzip(self, file: Path, body: bytes) -> bytes:
        key = (file, file.stat().st_mtime)
        if key not in self._gzipped:
            self._gzipped[key] = gzip.compress(body, compresslevel=9, mtime=0)
        return self._gzipped[key]
