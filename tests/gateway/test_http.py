"""HTTP plumbing: X-Request-ID, optional trailing slashes, 404/405, malformed JSON, the 1 MiB body
limit (declared and chunked), OpenAPI and Swagger UI, health, readiness, and no metrics on this port."""

import re

import pytest
from prometheus_client import REGISTRY

from tests.gateway.support import client_for, complete_registration

MIB = 1024 * 1024


async def test_request_id_is_echoed(client):
    for method, url in [("GET", "/api/users/"), ("GET", "/nowhere"), ("POST", "/api/auth/login/"), ("GET", "/healthz")]:
        response = await client.request(method, url, headers={"X-Request-ID": "req-42"})
        assert response.headers["X-Request-ID"] == "req-42", url


async def test_request_id_is_made_when_missing_or_unusable(client):
    made = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    for unusable in ("has spaces in it", "x" * 201):
        response = await client.get("/healthz", headers={"X-Request-ID": unusable})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


async def test_trailing_slash_is_optional_without_redirect(client, phones):
    phone = phones()
    created = await complete_registration(client, phone, slash="")  # register and otp/verify without the slash
    assert created.status_code == 200
    assert (await client.get("/api/users")).status_code == 200
    assert (await client.get("/api/users/")).status_code == 200
    assert (await client.get("/healthz/")).status_code == 200
    assert (await client.get("/healthz")).status_code == 200


async def test_unknown_route_is_404_detail(client):
    for path in ("/api/nothing-here/", "/api/nothing-here", "/nothing", "/media/generated/missing.png"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}


async def test_wrong_method_is_405_with_allow(client):
    response = await client.delete("/api/auth/login/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}
    assert "POST" in response.headers["Allow"]


async def test_malformed_json_is_400_with_empty_fields(client):
    response = await client.post(
        "/api/auth/login/", content=b'{"phone_number": "+98912', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error" and body["fields"] == {}
    assert body["error"].startswith("Malformed JSON")


@pytest.mark.parametrize("content", [b'["a", "list"]', b'"text"', b"42"])
async def test_a_body_that_is_not_an_object_is_400(client, content):
    response = await client.post("/api/auth/login/", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


async def test_json_without_content_type_is_400(client):
    response = await client.post("/api/auth/login/", content=b'{"phone_number": "x", "password": "y"}')
    assert response.status_code == 400
    assert "Content-Type" in response.json()["error"]


async def test_missing_body_is_400(client):
    response = await client.post("/api/auth/login/")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


async def test_wrong_types_name_the_field(client):
    response = await client.post("/api/auth/login/", json={"phone_number": 9121234567, "password": ["x"]})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"phone_number", "password"}


async def test_body_over_one_mib_is_413(client):
    body = b'{"phone_number": "' + b"9" * MIB + b'"}'
    response = await client.post(
        "/api/auth/login/", content=body, headers={"Content-Type": "application/json", "X-Request-ID": "big"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "validation_error" and response.json()["fields"] == {}
    assert response.headers["X-Request-ID"] == "big"


async def test_chunked_body_over_one_mib_is_413(client):
    async def chunks():
        for _ in range(20):
            yield b" " * (64 * 1024)  # whitespace: valid JSON padding, 1.25 MiB in all
        yield b"{}"

    response = await client.post("/api/auth/login/", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert response.json()["code"] == "validation_error"


async def test_body_just_under_the_limit_is_read(client):
    padding = b" " * (MIB - 2)
    response = await client.post("/api/auth/login/", content=padding + b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 400  # read and validated, not refused for size
    assert "phone_number" in response.json()["fields"]


async def test_openapi_document(client):
    response = await client.get("/api/schema/")
    assert response.status_code == 200
    schema = response.json()
    for path in ("/api/auth/register/", "/api/auth/login/", "/api/auth/otp/request/", "/api/auth/otp/verify/",
                 "/api/auth/logout/", "/api/auth/csrf/", "/api/users/"):
        assert path in schema["paths"], path
    # Invalid input is 400, never FastAPI's 422; the only 422 is send's idempotency_key_reused (api.md §3.5).
    with_422 = [path for path, methods in schema["paths"].items() for op in methods.values() if "422" in op["responses"]]
    assert with_422 == ["/api/chat-sessions/{session_id}/send/"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    login = schema["paths"]["/api/auth/login/"]["post"]["responses"]
    assert {"200", "400", "401", "429"} <= set(login)
    assert "ValidationErrorBody" in schema["components"]["schemas"]
    assert (await client.get("/api/schema")).status_code == 200


async def test_swagger_ui_route(client):
    response = await client.get("/api/docs/")
    assert response.status_code == 200
    assert "/api/schema/" in response.text


async def test_health_and_metrics(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    await client.get("/api/users/")
    # Counted, but never shown on the public port: Prometheus reads its own port (shared.metrics).
    assert (await client.get("/metrics")).status_code == 404
    assert REGISTRY.get_sample_value(
        "gateway_http_requests_total", {"method": "GET", "route": "/api/users/", "status": "401"}) >= 1


async def test_ready_on_its_own_dependencies_while_chat_and_billing_are_down(client):
    """Readiness covers the gateway's own database, Redis and broker only: a chat or billing outage
    must not take every gateway pod out of its Service (those errors reach the clients as 503s)."""
    response = await client.get("/readyz")  # no chat or billing process runs here
    assert response.status_code == 200, response.text
    assert response.json() == {"ready": True, "checks": {"database": True, "redis": True, "broker": True}}


async def test_not_ready_when_its_own_redis_fails(gateway, monkeypatch):
    async def refused() -> bool:
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(gateway.state.runtime.redis, "ping", refused)
    async with client_for(gateway) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "redis": False, "broker": True}
