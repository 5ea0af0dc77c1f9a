"""The error contract of api.md §4: every exception type to its status and body, localized limit
texts with operator overrides, and never a 500 — also when Redis or a service is down."""

import json

import pytest
from fastapi import APIRouter
from gateway.error_texts import Catalogue

from shared.errors import (
    AccessDenied,
    Conflict,
    LimitExceeded,
    NotFound,
    Timeout,
    Unavailable,
    ValidationFailed,
)
from tests.gateway.support import client_for, register

HOURLY = {"name": "hourly_messages", "limit": 100, "used": 100, "retry_after": 1234}
PERIOD = {"name": "max_tokens", "limit": 5000, "used": 5012, "retry_after": None}

RAISES = {
    "not-found": NotFound("chat session 7 of user 3 does not exist"),
    "not-found-custom": NotFound("no subscription", detail="No active subscription found"),
    "validation": ValidationFailed("chatbot_id: unknown chatbot", fields={"chatbot_id": ["Unknown chatbot."]}),
    "access": AccessDenied("Your plan does not include this model.", code="model_access_denied"),
    "conflict": Conflict("A reply is still in progress.", code="reply_in_progress"),
    "limit": LimitExceeded("hourly", limit=HOURLY),
    "period-limit": LimitExceeded("period", limit=PERIOD),
    "unavailable": Unavailable("no service answers chat.get_session"),
    "timeout": Timeout("chat.get_session did not answer in time"),
    "crash": RuntimeError("a bug"),
    "key-error": KeyError("missing"),
}

boom = APIRouter(prefix="/api/test-errors")


@boom.get("/{kind}/")
async def fail(kind: str) -> dict:
    raise RAISES[kind]


@pytest.fixture
async def app(build_gateway, start_gateway):
    app = build_gateway()
    app.include_router(boom)
    return await start_gateway(app)


@pytest.fixture
async def http(app):
    async with client_for(app) as client:
        yield client


async def test_not_found_never_leaks_the_services_message(http):
    response = await http.get("/api/test-errors/not-found/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


async def test_not_found_with_a_public_detail(http):
    response = await http.get("/api/test-errors/not-found-custom/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No active subscription found"}


async def test_validation_failed_carries_its_fields(http):
    response = await http.get("/api/test-errors/validation/")
    assert response.status_code == 400
    assert response.json() == {
        "error": "chatbot_id: unknown chatbot", "code": "validation_error", "fields": {"chatbot_id": ["Unknown chatbot."]}
    }


async def test_access_denied_is_403_with_its_code(http):
    response = await http.get("/api/test-errors/access/")
    assert response.status_code == 403
    assert response.json() == {"error": "Your plan does not include this model.", "code": "model_access_denied"}


async def test_conflict_is_409_with_its_code(http):
    response = await http.get("/api/test-errors/conflict/")
    assert response.status_code == 409
    assert response.json() == {"error": "A reply is still in progress.", "code": "reply_in_progress"}


async def test_limit_is_429_with_retry_after_and_english_text(http):
    response = await http.get("/api/test-errors/limit/")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1234"
    body = response.json()
    assert body["code"] == "limit_exceeded"
    assert body["limit"] == HOURLY
    assert "per hour" in body["error"]


@pytest.mark.parametrize("header", ["fa", "fa-IR", "fa-IR,fa;q=0.9,en;q=0.8", "en;q=0.5, fa"])
async def test_limit_text_is_persian_for_fa(http, header):
    response = await http.get("/api/test-errors/limit/", headers={"Accept-Language": header})
    assert response.json()["error"] == Catalogue().text("hourly_messages", "fa")
    assert "ساعت" in response.json()["error"]


@pytest.mark.parametrize("header", ["en-US", "de", "", "fr, en;q=0.1", "*"])
async def test_limit_text_is_english_otherwise(http, header):
    response = await http.get("/api/test-errors/limit/", headers={"Accept-Language": header})
    assert response.json()["error"] == Catalogue().text("hourly_messages", "en")


async def test_a_limit_that_does_not_free_itself_has_no_retry_after(http):
    response = await http.get("/api/test-errors/period-limit/")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.json()["limit"]["retry_after"] is None


async def test_unavailable_is_503_with_retry_after(http):
    response = await http.get("/api/test-errors/unavailable/")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert "chat.get_session" not in response.json()["error"]  # internals stay in the log
    assert int(response.headers["Retry-After"]) > 0


async def test_timeout_is_504_with_retry_after(http):
    response = await http.get("/api/test-errors/timeout/", headers={"Accept-Language": "fa"})
    assert response.status_code == 504
    assert response.json()["code"] == "unavailable"
    assert response.json()["error"] == Catalogue().text("timeout", "fa")
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("kind", ["crash", "key-error"])
async def test_any_other_exception_is_503_never_500(http, kind, caplog):
    response = await http.get(f"/api/test-errors/{kind}/", headers={"X-Request-ID": "bug-hunt-1"})
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert "Retry-After" in response.headers
    assert response.headers["X-Request-ID"] == "bug-hunt-1"
    assert any(record.exc_info for record in caplog.records)  # the bug is logged with its traceback


async def test_operator_overrides_texts_from_a_file(build_gateway, start_gateway, tmp_path):
    path = tmp_path / "messages.json"
    path.write_text(json.dumps({
        "fa": {"hourly_messages": "سقف ساعتی: {used} از {limit}"},
        "en": {"hourly_messages": "Hourly cap hit; back in {retry_after}s ({unknown} stays)"},
    }, ensure_ascii=False), encoding="utf-8")
    app = build_gateway(ERROR_MESSAGES_FILE=str(path))
    app.include_router(boom)
    await start_gateway(app)
    async with client_for(app) as http:
        fa = await http.get("/api/test-errors/limit/", headers={"Accept-Language": "fa"})
        en = await http.get("/api/test-errors/limit/")
        other = await http.get("/api/test-errors/period-limit/", headers={"Accept-Language": "fa"})
    assert fa.json()["error"] == "سقف ساعتی: 100 از 100"
    assert en.json()["error"] == "Hourly cap hit; back in 1234s ({unknown} stays)"
    assert other.json()["error"] == Catalogue().text("max_tokens", "fa")  # not overridden


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"fa": {"daily_messages": 3}}'])
def test_a_broken_override_file_stops_start_up(build_gateway, tmp_path, content):
    path = tmp_path / "messages.json"
    path.write_text(content)
    with pytest.raises(SystemExit, match="ERROR_MESSAGES_FILE"):
        build_gateway(ERROR_MESSAGES_FILE=str(path))


async def test_a_service_that_does_not_answer_is_503(client, phones):
    # No billing service runs in this test's virtual host: the RPC cannot be routed.
    await register(client, phones())
    response = await client.get("/api/users/subscription/")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


async def test_redis_down_is_503_not_500(start_gateway):
    app = await start_gateway(REDIS_URL="redis://127.0.0.1:1/0")
    async with client_for(app) as http:
        http.cookies.set("sessionid", "some-session")
        me = await http.get("/api/users/")
        otp = await http.post("/api/auth/otp/request/", json={"phone_number": "+989121234567"})
    # Login sessions are read from the database when Redis is away (they survive a Redis loss): an
    # unknown one is a plain 401. What needs Redis (codes, their caps) is a 503, never a 500.
    assert me.status_code == 401
    assert otp.status_code == 503 and otp.json()["code"] == "unavailable"


# --- every error text is localized (issue 18) ------------------------------------------------------

PERSIAN_LETTER = "\u0600-\u06ff"
FA = {"Accept-Language": "fa-IR"}


def _persian(text: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in text)


def _texts(body: dict) -> list[str]:
    texts = [body[k] for k in ("detail", "error") if isinstance(body.get(k), str)]
    return texts + [m for messages in (body.get("fields") or {}).values() for m in messages]


def test_every_english_text_has_a_persian_one():
    catalogue = Catalogue()
    missing = [key for key in catalogue.texts["en"] if not _persian(catalogue.texts["fa"].get(key, ""))]
    assert missing == []


@pytest.mark.parametrize("kind", ["not-found", "not-found-custom", "validation", "access", "conflict", "limit",
                                  "unavailable", "timeout", "crash"])
async def test_domain_errors_are_persian_for_fa(http, kind):
    response = await http.get(f"/api/test-errors/{kind}/", headers=FA)
    assert response.status_code >= 400
    texts = _texts(response.json())
    assert texts and all(_persian(t) for t in texts), response.text


async def test_gateway_errors_are_persian_for_fa(client, phones):
    """401, CSRF 403, 404, 405, 400 (malformed JSON and each kind of field error) and 413, in Persian."""
    answers = [
        await client.get("/api/users/", headers=FA),
        await client.get("/api/no-such-route/", headers=FA),
        await client.delete("/api/auth/csrf/", headers=FA),
        await client.post("/api/auth/login/", content=b"{oops", headers=FA | {"Content-Type": "application/json"}),
        await client.post("/api/auth/login/", json={"phone_number": 5}, headers=FA),
        await client.post("/api/auth/login/", json=[1], headers=FA),
        await client.post("/api/auth/login/", content=b" " * (1024 * 1024 + 1),
                          headers=FA | {"Content-Type": "application/json"}),
        await client.post("/api/auth/login/", json={"phone_number": "+989121234567", "password": "wrong password"},
                          headers=FA),
    ]
    await register(client, phones())
    answers += [
        await client.post("/api/chat-sessions/", json={"chatbot_id": 1}, headers=FA),  # no X-CSRFToken
        await client.post("/api/chat-sessions/", json={"chatbot_id": 0, "title": "x" * 201},
                          headers=FA | {"X-CSRFToken": client.cookies["csrftoken"]}),
        await client.post("/api/chat-sessions/", json={"chatbot_id": "a", "title": "\u200b"},
                          headers=FA | {"X-CSRFToken": client.cookies["csrftoken"]}),
        await client.get("/api/admin/chatbots/", headers=FA),
    ]
    assert {r.status_code for r in answers} >= {400, 401, 403, 404, 405, 413}
    for response in answers:
        texts = _texts(response.json())
        assert texts and all(_persian(t) for t in texts), (response.request.url, response.status_code, response.text)


async def test_english_contract_texts_are_unchanged(client):
    assert (await client.get("/api/users/")).json() == {"detail": "Authentication credentials were not provided."}
    assert (await client.get("/api/no-such-route/")).json() == {"detail": "Not found."}
    assert (await client.delete("/api/auth/csrf/")).json() == {"detail": 'Method "DELETE" not allowed.'}
    too_large = await client.post("/api/auth/login/", content=b" " * (1024 * 1024 + 1),
                                  headers={"Content-Type": "application/json"})
    assert too_large.json()["error"] == "The request body is larger than 1 MiB."
