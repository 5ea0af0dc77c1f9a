"""Authorization over EVERY operation of the OpenAPI document: anonymous callers get 401, other users
get 404 for a session's routes, non-staff get 403 for the admin routes. Operations are read from
/api/schema/, so a route added later is covered (or fails here) without editing this file."""

import pytest

from tests.api.harness import anonymous, bare, fill, new_user, operations
from tests.security.world import ADMIN_PREFIX, PUBLIC_PATHS, body_for, make_owner

NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}
NOT_FOUND = {"detail": "Not found."}
NOT_STAFF = {"detail": "You do not have permission to perform this action."}


@pytest.fixture
def owner(system, admin):
    return make_owner(system, admin, "owner-a")


@pytest.fixture
def ops(system):
    found = operations(system)
    assert len(found) >= 45, "the OpenAPI document lists every route"
    return found


def is_public(op: dict) -> bool:
    """No login needed: no security requirement, or an empty one among them (logout, csrf)."""
    return op.get("security") == [] or {} in op.get("security", [])


def is_service(op: dict) -> bool:
    """Only a service's credential, never a user's login (the Telegram bot's linking route)."""
    return op.get("security") == [{"telegramBot": []}]


def test_every_operation_is_public_logged_in_or_staff(ops):
    # The suites below rely on this classification: some auth routes, the plans for sale and the
    # payment providers' callbacks are the only public ones.
    public = {path for _, path, op in ops if is_public(op)}
    assert public == {"/api/auth/register/", "/api/auth/login/", "/api/auth/otp/request/", "/api/auth/otp/verify/",
                      "/api/auth/logout/", "/api/auth/csrf/", "/api/auth/token/", *PUBLIC_PATHS}
    service = {path for _, path, op in ops if is_service(op)}
    assert service == {"/api/auth/telegram/link/"}
    for method, path, op in ops:
        if is_service(op):
            assert "401" in op["responses"], (method, path)
        elif not is_public(op):
            # A browser session (with X-CSRFToken on unsafe methods) or an API token.
            session = {"session": [], "csrf": []} if method in ("POST", "PUT", "PATCH", "DELETE") else {"session": []}
            assert op.get("security") == [session, {"bearer": []}], (method, path)
            assert {"401", "403"} <= set(op["responses"]), (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)


def test_anonymous_callers_get_401_everywhere_but_auth(system, owner, ops):
    checked = 0
    for method, path, op in ops:
        if is_public(op):
            continue
        url = fill(path, owner.ids)
        for client in (anonymous(system), bare(system)):
            response = client.request(method, url, json=body_for(method, path) if method != "GET" else None)
            assert response.status_code == 401, (method, url, response.status_code, response.text)
            assert response.json() == NOT_AUTHENTICATED
        # An empty body is refused for the caller, not for its fields: nothing about validation leaks.
        if method in ("POST", "PUT", "PATCH"):
            assert bare(system).request(method, url, json={}).status_code == 401, (method, url)
        checked += 1
    assert checked >= 42


@pytest.mark.parametrize("value", ["forged", "x" * 43, "x" * 5000, ""])
def test_a_session_cookie_that_is_not_a_session_is_401(system, value):
    client = bare(system)
    client.cookies.set("sessionid", value)
    client.cookies.set("csrftoken", "y" * 43)
    csrf = {"X-CSRFToken": "y" * 43}
    for method, url, body in [("GET", "/api/users/", None), ("POST", "/api/chat-sessions/", {"chatbot_id": 1}),
                              ("DELETE", "/api/admin/chatbots/1/", None)]:
        response = client.request(method, url, json=body, headers=csrf)
        assert response.status_code == 401 and response.json() == NOT_AUTHENTICATED, (method, url, response.text)


def test_public_routes_answer_without_a_login(system):
    client = bare(system)
    for path in ("/api/schema/", "/api/docs/", "/healthz", "/readyz", "/api/auth/csrf/"):
        assert client.get(path).status_code == 200, path
    assert client.post("/api/auth/logout/").json() == {"success": True}


def test_another_user_gets_404_for_every_session_route(system, owner, ops):
    stranger = new_user(system)
    session_ops = [(m, p) for m, p, _ in ops if "{session_id}" in p]
    assert len(session_ops) >= 11  # get, put, patch, delete, messages, send, title, edit, regenerate, stop, stream
    for method, path in session_ops:
        url = fill(path, owner.ids)
        response = stranger.request(method, url, json=body_for(method, path))
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        assert response.json() == NOT_FOUND
    # Nothing changed for the owner.
    session = owner.client.get(f"/api/chat-sessions/{owner.session_id}/").json()
    assert session["title"] == "Session owner-a" and session["is_active"] is True
    messages = owner.client.get(f"/api/chat-sessions/{owner.session_id}/messages/").json()["messages"]
    assert [m["message_id"] for m in messages] == [owner.message_id, owner.reply_id]
    assert messages[0]["content"] == "Secret words owner-a"


def test_a_deleted_session_is_404_on_every_route_for_its_owner_too(owner, ops):
    assert owner.client.delete(f"/api/chat-sessions/{owner.session_id}/").status_code == 200
    for method, path, _ in ops:
        if "{session_id}" in path:
            response = owner.client.request(method, fill(path, owner.ids), json=body_for(method, path))
            assert response.status_code == 404, (method, path, response.text)


def test_ordinary_users_get_403_on_every_admin_route(system, owner, ops):
    admin_ops = [(m, p) for m, p, _ in ops if p.startswith(ADMIN_PREFIX)]
    assert len(admin_ops) >= 20
    for client in (owner.client, new_user(system)):
        for method, path in admin_ops:
            url = fill(path, owner.ids)
            for body in (body_for(method, path), {} if method in ("POST", "PUT", "PATCH") else None):
                response = client.request(method, url, json=body)
                assert response.status_code == 403, (method, url, response.status_code, response.text)
                assert response.json() == NOT_STAFF
    # None of those requests did anything: the owner is still an ordinary Premium user.
    assert owner.client.get("/api/users/subscription/").json()["subscription_type"]["sku"] == "PREMIUM_SUB_30D"
    assert owner.client.get("/api/admin/users/").status_code == 403


def test_staff_pass_the_same_routes(admin, ops):
    code = admin.post("/api/admin/discount-codes/", json={"code": "STAFF-GET", "discount_type": "fixed",
                                                          "discount_value": "1"})
    assert code.status_code == 201, code.text
    for method, path, _ in ops:
        if path.startswith(ADMIN_PREFIX) and method == "GET":
            response = admin.get(fill(path, {"item_id": 1, "plan_id": 1, "code_id": code.json()["id"], "user_id": 1}))
            assert response.status_code == 200, (path, response.text)
