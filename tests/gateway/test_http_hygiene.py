"""HTTP hygiene of the public port (api.md §2 "Client IP", "Hosts"; §5): X-Forwarded-For only from
trusted proxies, ALLOWED_HOSTS and links that never reflect a foreign Host, OPTIONS 204 with the real
Allow, HEAD beside GET, nosniff on every answer. The raw-socket limits are in tests/e2e."""

import pytest
from fastapi import FastAPI
from gateway.client_ip import TrustedProxies, parse_networks
from gateway.pagination import PageParams, envelope
from gateway.throttle import IP_LIMIT
from starlette.requests import Request

from tests.gateway.support import client_for

TRUSTED = "10.9.0.0/16, 192.0.2.7"


def test_forwarded_for_is_read_from_the_right_skipping_trusted_proxies():
    proxies = TrustedProxies(parse_networks(TRUSTED))
    # A client forged the left part; the proxies appended what they saw.
    assert proxies.client_from("10.9.1.1", "1.1.1.1, 203.0.113.5, 192.0.2.7") == "203.0.113.5"
    assert proxies.client_from("10.9.1.1", "203.0.113.5") == "203.0.113.5"
    assert proxies.client_from("10.9.1.1", "203.0.113.5:4711, 10.9.2.2") == "203.0.113.5"
    assert proxies.client_from("10.9.1.1", "[2001:db8::1]:80") == "2001:db8::1"
    # Garbage stops the walk at the last real hop, and never becomes the client's "address".
    assert proxies.client_from("10.9.1.1", "not-an-ip") == "10.9.1.1"
    assert proxies.client_from("10.9.1.1", "evil, 10.9.3.3") == "10.9.3.3"
    assert "10.9.255.1" in proxies and "10.10.0.1" not in proxies and "garbage" not in proxies


def test_forwarded_allow_ips_must_be_addresses(gateway_settings):
    with pytest.raises(ValueError):
        gateway_settings(FORWARDED_ALLOW_IPS="127.0.0.1, proxy.internal")


async def _fail_logins(app: FastAPI, phones, peer: str, forwarded: list[str]) -> list[int]:
    statuses = []
    async with client_for(app, ip=peer) as http:
        for i, fake in enumerate(forwarded):
            response = await http.post("/api/auth/login/", headers={"X-Forwarded-For": fake},
                                       json={"phone_number": phones(), "password": f"guess {i}"})
            statuses.append(response.status_code)
    return statuses


async def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(start_gateway, phones, redis):
    app = await start_gateway(FORWARDED_ALLOW_IPS=TRUSTED)
    peer = "198.51.100.77"
    await redis.delete(f"mobix:gw:login-fail:ip:{peer}")
    try:
        fakes = [f"203.0.113.{i % 250}" for i in range(IP_LIMIT + 1)]  # a new "address" every time
        statuses = await _fail_logins(app, phones, peer, fakes)
        assert statuses == [401] * IP_LIMIT + [429]  # counted against the peer all along
    finally:
        await redis.delete(f"mobix:gw:login-fail:ip:{peer}")


async def test_a_trusted_proxy_forwards_the_client_address(start_gateway, phones, redis):
    app = await start_gateway(FORWARDED_ALLOW_IPS=TRUSTED)
    client, other = "203.0.113.200", "203.0.113.201"
    for ip in (client, other):
        await redis.delete(f"mobix:gw:login-fail:ip:{ip}")
    try:
        # The client forges a left part; the trusted proxy appends the address it really saw.
        forwarded = [f"1.2.3.{i % 250}, {client}" for i in range(IP_LIMIT + 1)]
        statuses = await _fail_logins(app, phones, "10.9.4.4", forwarded)
        assert statuses == [401] * IP_LIMIT + [429]
        # Another client behind the same proxy is not blocked.
        assert await _fail_logins(app, phones, "10.9.4.4", [other]) == [401]
    finally:
        for ip in (client, other):
            await redis.delete(f"mobix:gw:login-fail:ip:{ip}")


async def test_forwarded_proto_from_a_trusted_proxy_makes_cookies_secure(start_gateway, phones):
    app = await start_gateway(FORWARDED_ALLOW_IPS=TRUSTED)
    for peer, secure in (("10.9.5.5", True), ("198.51.100.5", False)):
        async with client_for(app, ip=peer) as http:
            response = await http.get("/api/auth/csrf/", headers={"X-Forwarded-Proto": "https"})
        cookie = response.headers["set-cookie"].lower()
        assert ("; secure" in cookie) is secure, (peer, cookie)


# --- hosts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("language, text", [("en", "host name"), ("fa", "میزبان")])
async def test_a_host_not_allowed_is_400_in_the_callers_language(client, language, text):
    response = await client.get("/api/auth/csrf/", headers={"Host": "evil.example", "Accept-Language": language})
    assert response.status_code == 400
    assert response.json()["code"] == "host_not_allowed" and text in response.json()["error"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_allowed_hosts_accepts_listed_names_ports_and_subdomains(start_gateway):
    app = await start_gateway(ALLOWED_HOSTS="api.example.com,.mobix.test")
    async with client_for(app, base_url="http://api.example.com:8443") as http:
        assert (await http.get("/api/auth/csrf/")).status_code == 200
        for host, status in (("a.mobix.test", 200), ("mobix.test", 200), ("evilmobix.test", 400),
                             ("api.example.com.evil", 400), ("", 400)):
            assert (await http.get("/api/auth/csrf/", headers={"Host": host})).status_code == status, host
        assert (await http.get("/healthz", headers={"Host": "10.1.2.3:8000"})).status_code == 200  # probes


def test_development_allows_only_the_loopback_names(gateway_settings):
    assert gateway_settings(ALLOWED_HOSTS=None).allowed_host_list == ("127.0.0.1", "localhost")


def test_production_refuses_to_start_without_allowed_hosts(gateway_settings):
    settings = gateway_settings(ENVIRONMENT="production", SECRET_KEY="a real secret", ALLOWED_HOSTS=None)
    with pytest.raises(SystemExit, match="ALLOWED_HOSTS"):
        settings.check_production_safety()
    gateway_settings(ENVIRONMENT="production", SECRET_KEY="a real secret",
                     ALLOWED_HOSTS="api.example.com").check_production_safety()


def _request(url_host: str, public_base_url: str | None) -> Request:
    app = FastAPI()
    app.state.public_base_url = public_base_url
    scope = {"type": "http", "method": "GET", "scheme": "http", "path": "/api/chatbots/", "raw_path": b"/api/chatbots/",
             "query_string": b"page=2&page_size=1", "headers": [(b"host", url_host.encode())], "app": app,
             "server": ("127.0.0.1", 8000)}
    return Request(scope)


def test_pagination_links_use_public_base_url_when_set():
    page = envelope(_request("localhost:8000", "https://api.example.com/v"), PageParams(2, 1), 3, [])
    assert page["next"] == "https://api.example.com/v/api/chatbots/?page=3&page_size=1"
    assert page["previous"] == "https://api.example.com/v/api/chatbots/?page=1&page_size=1"
    page = envelope(_request("localhost:8000", None), PageParams(2, 1), 3, [])
    assert page["next"] == "http://localhost:8000/api/chatbots/?page=3&page_size=1"


# --- methods and headers --------------------------------------------------------------------------


@pytest.mark.parametrize("path, allow", [
    ("/api/auth/login/", "POST, OPTIONS"),
    ("/api/auth/login", "POST, OPTIONS"),
    ("/api/chat-sessions/", "GET, HEAD, POST, OPTIONS"),
    ("/api/chat-sessions/12/", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
    ("/api/admin/chatbots/3/", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
    ("/healthz", "GET, HEAD, OPTIONS"),
])
async def test_options_is_204_with_the_routes_allow(client, path, allow):
    response = await client.options(path)
    assert response.status_code == 204, response.text
    assert response.headers["Allow"] == allow
    assert response.content == b""


@pytest.mark.parametrize("path, allow", [
    ("/api/chat-sessions/12/", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
    ("/api/chat-sessions/", "GET, HEAD, POST, OPTIONS"),
    ("/media/chatbots/bot.png", "GET, HEAD, OPTIONS"),
])
async def test_a_405_names_every_method_of_the_path(client, path, allow):
    response = await client.request("TRACE", path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow


async def test_options_on_an_unknown_path_is_404(client):
    response = await client.options("/api/nothing-here/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


async def test_head_is_answered_like_get_without_a_body(client):
    response = await client.head("/healthz")
    assert response.status_code == 200 and response.content == b""
    assert (await client.head("/api/users/")).status_code == 401


@pytest.mark.parametrize("method, path", [
    ("GET", "/healthz"), ("GET", "/api/users/"), ("GET", "/nowhere"), ("POST", "/api/auth/login/"),
    ("DELETE", "/api/auth/login/"), ("OPTIONS", "/api/users/"), ("GET", "/api/schema/"),
    ("GET", "/media/generated/missing.png"),
])
async def test_every_answer_says_nosniff(client, method, path):
    response = await client.request(method, path)
    assert response.headers["X-Content-Type-Options"] == "nosniff", (method, path, response.status_code)


async def test_media_files_say_nosniff(start_gateway, gateway_settings, tmp_path):
    app = await start_gateway()
    media = tmp_path / "media" / "chatbots"
    media.mkdir(parents=True, exist_ok=True)
    (media / "bot.png").write_bytes(b"\x89PNG not really")
    async with client_for(app) as http:
        response = await http.get("/media/chatbots/bot.png")
    assert response.status_code == 200 and response.headers["X-Content-Type-Options"] == "nosniff"
