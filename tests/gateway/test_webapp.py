"""The web app's files as the gateway serves them: CSP, cache lifetimes, client routes, and the API's
own paths left alone (gateway/webapp.py)."""

import re
from pathlib import Path

import httpx
import pytest
from gateway.webapp import WebAppMiddleware, content_security_policy
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

# The console's screens as the web app routes them (webapp/src/console/screens.js): the gateway must
# answer the page for each, or a reload on one would get the API's 404.
SCREENS_JS = Path(__file__).resolve().parents[2] / "webapp" / "src" / "console" / "screens.js"
CONSOLE_SCREENS = re.findall(r'^\s*"(\w+)",$', SCREENS_JS.read_text(), re.MULTILINE)
INDEX = b"<!doctype html><html><head><script type=module src=/assets/app-1a2b3c.js></script></head></html>"


@pytest.fixture
def dist(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "assets" / "app-1a2b3c.js").write_text("console.log('app');" * 50)
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("outside the build")
    return tmp_path


def client(directory, media_base_url="/media/", stripe_js_url="https://js.stripe.com/v3/") -> httpx.AsyncClient:
    async def api_route(request):
        return JSONResponse({"route": request.url.path})

    async def not_found(request, exc):
        return JSONResponse({"detail": "Not found."}, status_code=404)

    inner = Starlette(routes=[Route("/api/users/", api_route, methods=["GET", "POST"]),
                              Route("/healthz", api_route)], exception_handlers={404: not_found})
    app = WebAppMiddleware(inner, directory=directory, media_base_url=media_base_url, stripe_js_url=stripe_js_url)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_index_is_never_cached_and_carries_a_strict_csp(dist):
    async with client(dist) as http:
        response = await http.get("/")
    assert response.status_code == 200
    assert response.content == INDEX
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp


def test_the_console_screens_are_known():
    assert "plans" in CONSOLE_SCREENS and "audit" in CONSOLE_SCREENS  # the pattern above still reads the file


async def test_client_routes_answer_the_app(dist):
    async with client(dist) as http:
        for path in ("/", "/chat/12", "/usage", "/plan", "/new", "/login", "/signup", "/usage/", "/payments/return",
                     "/admin", "/admin/", *(f"/admin/{screen}" for screen in CONSOLE_SCREENS)):
            response = await http.get(path)
            assert response.status_code == 200, path
            assert response.content == INDEX
            assert response.headers["cache-control"] == "no-cache"


async def test_hashed_assets_are_cached_for_a_year_and_gzipped(dist):
    async with client(dist) as http:
        response = await http.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip"})
        plain = await http.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"].startswith("text/javascript") or "javascript" in response.headers["content-type"]
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == (dist / "assets" / "app-1a2b3c.js").read_bytes()  # httpx decodes the gzip
    assert int(response.headers["content-length"]) < len(response.content)
    assert "content-encoding" not in plain.headers


async def test_a_missing_asset_is_404_not_the_page(dist):
    async with client(dist) as http:
        response = await http.get("/assets/app-old.js")
    assert response.status_code == 404
    assert response.content != INDEX


async def test_top_level_files_get_a_short_cache(dist):
    async with client(dist) as http:
        response = await http.get("/favicon.svg")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=3600"


async def test_the_build_folder_cannot_be_escaped(dist):
    async with client(dist) as http:
        response = await http.get("/assets/../../secret.txt")
        encoded = await http.get("/%2e%2e/secret.txt")
    assert b"outside the build" not in response.content
    assert b"outside the build" not in encoded.content


async def test_api_paths_pass_through(dist):
    async with client(dist) as http:
        users = await http.get("/api/users/")
        posted = await http.post("/api/users/")
        unknown = await http.get("/api/nothing-here/")
        health = await http.get("/healthz")
        post_page = await http.post("/chat/1")
        other = await http.get("/nothing")
        not_a_screen = await http.get("/admin/nothing")
        health_slash = await http.get("/healthz/")
    assert users.json() == {"route": "/api/users/"}
    assert posted.json() == {"route": "/api/users/"}
    assert unknown.status_code == 404 and unknown.json() == {"detail": "Not found."}
    assert health.json() == {"route": "/healthz"}
    assert post_page.status_code != 200  # only GET/HEAD are the app's
    assert other.status_code == 404 and other.json() == {"detail": "Not found."}
    assert not_a_screen.status_code == 404 and not_a_screen.json() == {"detail": "Not found."}
    assert health_slash.status_code != 200 or health_slash.json() == {"route": "/healthz"}


async def test_lifespan_reaches_the_app(dist):
    started = []

    async def inner(scope, receive, send):
        started.append(scope["type"])

    await WebAppMiddleware(inner, directory=dist)({"type": "lifespan"}, None, None)
    assert started == ["lifespan"]


async def test_not_built_says_how_to_build(tmp_path):
    async with client(tmp_path / "missing") as http:
        response = await http.get("/")
    assert response.status_code == 503
    assert "make run" in response.text


def test_images_from_a_separate_media_server_are_allowed():
    assert "img-src 'self' data: blob: https://cdn.example.com" in content_security_policy("https://cdn.example.com/media/")
    assert "img-src 'self' data: blob:;" in content_security_policy("/media/")


def _directives(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in csp.split("; ")}


async def test_only_the_stripe_page_admits_stripe_js(dist):
    async with client(dist) as http:
        page = _directives((await http.get("/pay/stripe/", params={"payment_id": "x"})).headers["content-security-policy"])
        others = [_directives((await http.get(path)).headers["content-security-policy"])
                  for path in ("/", "/plan", "/payments/return", "/assets/app-1a2b3c.js")]
    assert page["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert page["frame-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"]
    assert page["connect-src"] == ["'self'", "https://api.stripe.com"]
    assert page["frame-ancestors"] == ["'none'"] and page["style-src"] == ["'self'"]
    for other in others:
        assert other["script-src"] == ["'self'"] and other["connect-src"] == ["'self'"]
        assert other["frame-src"] == ["'self'"]


async def test_a_stripe_js_stand_in_is_admitted_by_its_origin_only(dist):
    async with client(dist, stripe_js_url="http://127.0.0.1:8094/stripe-js/v3/") as http:
        page = _directives((await http.get("/pay/stripe/")).headers["content-security-policy"])
    assert page["script-src"] == ["'self'", "http://127.0.0.1:8094"]
    assert page["connect-src"] == ["'self'", "http://127.0.0.1:8094"]
    assert page["frame-src"] == ["'self'"]
