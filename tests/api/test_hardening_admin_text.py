"""Issue 18, admin and text: PUT replaces or refuses, lists are uncut, chatbot pictures are safe URLs,
every bound the admin accepts can be served, session ids that name nothing are 404, text with NUL or
only invisible characters is 400, and every error text is Persian for `Accept-Language: fa`."""

import re
import uuid

import pytest

from tests.api.harness import (
    PREMIUM,
    anonymous,
    bare,
    create_session,
    fill,
    new_user,
    operations,
    send,
)

FA = {"Accept-Language": "fa"}
PERSIAN = re.compile(r"[\u0600-\u06FF]")
ADMIN_OBJECTS = {
    "/api/admin/subscription-types/": {"name": "PUT plan", "sku": "PUT_PLAN_SKU", "price": "10",
                                       "hourly_max_messages": 7, "daily_max_tokens": 5000},
    "/api/admin/ai-models/": {"name": "PUT model", "model_id": "put/model", "prompt_price_usd_per_mtok": "3",
                              "max_reply_tokens": 512, "subscription_type_ids": [PREMIUM]},
    "/api/admin/chatbots/": {"name": "PUT bot", "system_prompt": "Be brief.", "image": "/media/chatbots/put.png",
                             "subscription_type_ids": [PREMIUM]},
}
READ_ONLY = {"id", "created_at"}


# --- 1. PUT is a full replacement; PATCH is partial --------------------------------------------------


@pytest.mark.parametrize("path", list(ADMIN_OBJECTS))
def test_put_with_missing_fields_is_400_and_changes_nothing(admin, path):
    created = admin.post(path, json=ADMIN_OBJECTS[path])
    assert created.status_code == 201, created.text
    item = created.json()
    url = f"{path}{item['id']}/"
    try:
        careless = admin.put(url, json={"name": item["name"] + " 2"})
        assert careless.status_code == 400, careless.text
        missing = careless.json()["fields"]
        writable = set(item) - READ_ONLY - {"name"}
        assert writable <= set(missing), writable - set(missing)
        assert admin.get(url).json() == item  # nothing changed, nothing reset to a default

        whole = {k: v for k, v in item.items() if k not in READ_ONLY} | {"name": item["name"] + " 2"}
        replaced = admin.put(url, json=whole)
        assert replaced.status_code == 200, replaced.text
        assert replaced.json() == item | {"name": item["name"] + " 2"}

        patched = admin.patch(url, json={"is_active": False})
        assert patched.status_code == 200, patched.text
        assert patched.json() == replaced.json() | {"is_active": False}
        assert admin.patch(url, json={"name": None}).status_code == 400  # null only where the API says so
    finally:
        admin.delete(url)


def test_openapi_declares_required_put_fields_and_only_real_nullability(system):
    schema = bare(system).get("/api/schema/").json()
    components = schema["components"]["schemas"]
    for path in ADMIN_OBJECTS:
        put = next(ops for p, ops in schema["paths"].items() if p.startswith(path) and "{" in p and "put" in ops)
        body = put["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        model = components[body]
        assert set(model["required"]) == set(model["properties"]), body
        patch = put["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        nullable = {name for name, prop in components[patch]["properties"].items()
                    if any(option.get("type") == "null" for option in prop.get("anyOf", []))}
        assert nullable <= {"prompt_price_usd_per_mtok", "completion_price_usd_per_mtok", "image", "default_model_id"}
        assert all("default" not in prop for prop in components[patch]["properties"].values()), patch


# --- 2. a plain admin list is never cut --------------------------------------------------------------


def test_plain_admin_users_list_returns_every_user(system, admin):
    count = admin.get("/api/admin/users/", params={"page": 1, "page_size": 1}).json()["count"]
    for _ in range(max(0, 101 - count)):
        new_user(system)
    total = admin.get("/api/admin/users/", params={"page": 1, "page_size": 1}).json()["count"]
    assert total > 100
    assert len(admin.get("/api/admin/users/").json()) == total


# --- 3. chatbot pictures ---------------------------------------------------------------------------


@pytest.mark.parametrize("image", ["javascript:alert(document.cookie)", "data:text/html;base64,PHNjcmlwdD4=",
                                   "http://example.com/a.png", "//evil.example/a.png", "media/a.png",
                                   "/media/../../etc/passwd", "JaVaScRiPt:alert(1)", "/static/a.png"])
def test_chatbot_image_must_be_media_path_or_https(admin, image):
    created = admin.post("/api/admin/chatbots/", json={"name": "Picture", "image": image})
    assert created.status_code == 400 and "image" in created.json()["fields"], created.text
    patched = admin.patch("/api/admin/chatbots/1/", json={"image": image})
    assert patched.status_code == 400 and "image" in patched.json()["fields"], patched.text


def test_chatbot_image_accepts_media_and_https(admin):
    for image in ("/media/chatbots/a.png", "https://cdn.example.com/b.webp"):
        created = admin.post("/api/admin/chatbots/", json={"name": f"Picture {image}", "image": image})
        assert created.status_code == 201 and created.json()["image"] == image, created.text
        assert admin.delete(f"/api/admin/chatbots/{created.json()['id']}/").status_code == 204


# --- 4. every bound the admin accepts can be served ------------------------------------------------


def test_the_largest_model_the_admin_accepts_serves_a_send(system, admin):
    """The admin took prices up to 999,999 USD/Mtok, billing refused anything over 10,000 at send time."""
    schema = bare(system).get("/api/schema/").json()["components"]["schemas"]["AiModelFields"]["properties"]

    def top(name: str) -> object:
        options = schema[name].get("anyOf", [schema[name]])
        return next(o["maximum"] for o in options if "maximum" in o)

    # A plan without limits (0 = unlimited): the send must be admitted, so only bounds could refuse it.
    plan = admin.post("/api/admin/subscription-types/", json={"name": "Unlimited", "sku": "UNLIMITED_LARGEST"})
    assert plan.status_code == 201, plan.text
    body = {
        "name": "Largest", "model_id": "openai/gpt-4o-mini-largest", "is_free": False,
        "subscription_type_ids": [plan.json()["id"]],
        "token_cost_multiplier": str(top("token_cost_multiplier")), "context_tokens": top("context_tokens"),
        "max_reply_tokens": top("max_reply_tokens"), "prompt_price_usd_per_mtok": str(top("prompt_price_usd_per_mtok")),
        "completion_price_usd_per_mtok": str(top("completion_price_usd_per_mtok")),
    }
    created = admin.post("/api/admin/ai-models/", json=body)
    assert created.status_code == 201, created.text
    too_big = admin.post("/api/admin/ai-models/", json=body | {"model_id": "x/over", "prompt_price_usd_per_mtok": "10000.01"})
    assert too_big.status_code == 400 and "prompt_price_usd_per_mtok" in too_big.json()["fields"]
    client = new_user(system, plan.json()["id"], admin)
    session = create_session(client, 1, ai_model_id=body["model_id"])
    response = send(client, session["id"], "Hello")
    assert response.status_code == 201, response.text  # not 400 "Invalid admission request"


# --- 5. session and message ids that name nothing are 404 -------------------------------------------

BAD_SESSION_IDS = ["0", "-1", "1.0", "abc", "99999999999999999999", "2147483648", "%20", "00", "1e3", "9" * 5000, "١"]


def test_session_ids_that_are_not_positive_integers_are_404_on_every_session_route(system, user):
    session = create_session(user)
    routes = [(m, p) for m, p, _ in operations(system) if p.startswith("/api/chat-sessions/{session_id}")]
    assert len(routes) >= 10
    for method, path in routes:
        for bad in BAD_SESSION_IDS:
            url = fill(path, {"session_id": bad, "message_id": uuid.uuid4()})
            body = {"message": "hi", "content": "hi", "title": "t"} if method != "GET" else None
            response = user.request(method, url, json=body)
            assert response.status_code == 404, (method, url, response.text)
            assert response.json() == {"detail": "Not found."}
    for bad in ("not-a-uuid", "0", "-1"):
        url = f"/api/chat-sessions/{session['id']}/messages/{bad}/edit/"
        response = user.post(url, json={"content": "hi"})
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}, response.text
    assert anonymous(system).get("/api/chat-sessions/0/").status_code == 401  # still 401 before anything


# --- 6. text: control characters and invisible-only text -------------------------------------------

REFUSED = ["a\u0000b", "\u0000", "bell\u0007", "esc\u001b[31m", "\u200b", "\u200c\u200d", "\u200e\u200f\ufeff", " \u2060 "]


def test_text_with_nul_control_or_only_invisible_characters_is_400(user):
    session = create_session(user)
    first = send(user, session["id"], "first")
    assert first.status_code == 201
    user.wait_for_reply(session["id"], first.json()["user_message"]["message_id"], timeout=60)
    message_id = first.json()["user_message"]["message_id"]
    base = f"/api/chat-sessions/{session['id']}"
    for text in REFUSED:
        cases = [
            ("POST", f"{base}/send/", {"message": text}, "message"),
            ("POST", f"{base}/messages/{message_id}/edit/", {"content": text}, "content"),
            ("POST", f"{base}/update-title/", {"title": text}, "title"),
            ("PATCH", f"{base}/", {"title": text}, "title"),
            ("POST", "/api/chat-sessions/", {"chatbot_id": 1, "title": text}, "title"),
        ]
        for method, url, body, field in cases:
            response = user.request(method, url, json=body)
            assert response.status_code == 400, (method, url, repr(text), response.text)
            assert field in response.json()["fields"], response.text
    messages = user.get(f"{base}/messages/").json()["messages"]
    assert [m["content"] for m in messages][:1] == ["first"] and len(messages) == 2
    persian = send(user, session["id"], "می\u200cخواهم\tبدانم\n")
    assert persian.status_code == 201, persian.text
    assert persian.json()["user_message"]["content"] == "می\u200cخواهم\tبدانم"


def test_admin_names_refuse_nul(admin):
    for path, body in (("/api/admin/ai-models/", {"name": "N\u0000", "model_id": "x/nul"}),
                       ("/api/admin/chatbots/", {"name": "\u200b"}),
                       ("/api/admin/subscription-types/", {"name": "P\u0000", "sku": "NUL_SKU"})):
        response = admin.post(path, json=body)
        assert response.status_code == 400 and "name" in response.json()["fields"], response.text


# --- 7. every error text is localized --------------------------------------------------------------


def _texts(body: object) -> list[str]:
    if isinstance(body, dict):
        texts = [v for k, v in body.items() if k in ("detail", "error") and isinstance(v, str)]
        for messages in (body.get("fields") or {}).values():
            texts += [m for m in messages if isinstance(m, str)]
        return texts
    return []


def _assert_persian(response, where) -> None:
    texts = _texts(response.json())
    assert texts, (where, response.status_code, response.text)
    for text in texts:
        assert PERSIAN.search(text), (where, response.status_code, text)


def test_every_error_status_of_every_route_is_persian_for_fa(system, admin, user):
    """Driven by the OpenAPI document: for each route, each error it can be made to answer without
    special state (401, 403 CSRF/staff, 404, 405, 400, 413), with `Accept-Language: fa`."""
    session = create_session(user)
    seen: set[int] = set()
    ops = operations(system)
    methods_of: dict[str, set[str]] = {}
    for method, path, _ in ops:
        methods_of.setdefault(path, set()).add(method)
    for method, path, op in ops:
        if not path.startswith("/api/") or path in ("/api/schema/", "/api/docs/"):
            continue
        real = fill(path, {"session_id": session["id"], "message_id": uuid.uuid4(), "item_id": 1, "plan_id": 1,
                           "user_id": user.user_id, "chatbot_id": 1, "model_pk": 1, "payment_id": 1, "code_id": 1,
                           "token_id": 1, "telegram_user_id": 1})
        missing = fill(path, {"session_id": 0, "message_id": uuid.uuid4(), "item_id": 999999, "plan_id": 999999,
                              "user_id": 999999, "chatbot_id": 999999, "model_pk": 999999, "payment_id": 999999,
                              "code_id": 999999, "token_id": 999999, "telegram_user_id": 999999})
        documented = {int(code) for code in op.get("responses", {}) if code.isdigit()}
        probes = []
        if 401 in documented:
            probes.append(("401", anonymous(system).request(method, real, headers=FA, json={})))
        if method != "GET" and 403 in documented:
            csrf = user.request(method, real, headers=FA | {"X-CSRFToken": "wrong"}, json={})
            probes.append(("403 csrf", csrf))
        if path.startswith("/api/admin/"):
            probes.append(("403 staff", user.request(method, real, headers=FA, json={})))
        who = admin if path.startswith("/api/admin/") else user
        if "{" in path:
            probes.append(("404", who.request(method, missing, headers=FA, json={})))
        if op.get("requestBody"):
            probes.append(("400 body", who.request(method, real, headers=FA | {"Content-Type": "application/json"},
                                                   content=b"{not json")))
            probes.append(("400 fields", who.request(method, real, headers=FA, json={"unexpected": True})))
            big = who.request(method, real, headers=FA | {"Content-Type": "application/json"}, content=b" " * (1024 * 1024 + 1))
            probes.append(("413", big))
        unused = {"GET", "POST", "PUT", "PATCH", "DELETE"} - methods_of[path]
        if unused:
            probes.append(("405", who.request(sorted(unused)[0], real, headers=FA)))
        for label, response in probes:
            if response.status_code < 400:
                continue  # e.g. a body every field of which is optional
            seen.add(response.status_code)
            _assert_persian(response, f"{method} {path} ({label})")
    assert {400, 401, 403, 404, 405, 413} <= seen, seen


def test_domain_errors_are_persian_for_fa(system, admin, user):
    fa = dict(headers=FA)
    session = create_session(user)
    cases = [
        user.post("/api/chat-sessions/", json={"chatbot_id": 999_999}, **fa),  # 400 from chat
        user.post("/api/chat-sessions/", json={"chatbot_id": 1, "ai_model_id": "anthropic/claude-3-opus"}, **fa),  # 403
        user.post(f"/api/chat-sessions/{session['id']}/stop/", **fa),  # 409 nothing in progress
        user.post(f"/api/chat-sessions/{session['id']}/regenerate/", **fa),  # 400 nothing to regenerate
        admin.delete("/api/admin/subscription-types/1/", **fa),  # 409 default plan
        admin.post("/api/admin/subscription-types/", json={"name": "Dup", "sku": "FREE_SUB_30D"}, **fa),  # 400 billing
        user.get("/api/chat-sessions/999999/", **fa),  # 404
        anonymous(system).post("/api/auth/login/", json={"phone_number": "+989350000000", "password": "wrong pass"}, **fa),
    ]
    statuses = set()
    for response in cases:
        assert response.status_code >= 400, response.text
        statuses.add(response.status_code)
        _assert_persian(response, response.request.url)
    assert {400, 401, 403, 404, 409} <= statuses


def test_english_texts_are_the_contracts(system, user):
    assert anonymous(system).get("/api/users/").json() == {"detail": "Authentication credentials were not provided."}
    assert user.get("/api/chat-sessions/999999/").json() == {"detail": "Not found."}
    csrf = user.post("/api/chat-sessions/", json={"chatbot_id": 1}, headers={"X-CSRFToken": "wrong"})
    assert csrf.status_code == 403 and csrf.json()["detail"].startswith("CSRF Failed: ")
