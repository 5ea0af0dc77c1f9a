"""CSRF over every unsafe operation of the OpenAPI document (api.md §2): a logged-in request without the
X-CSRFToken header, with a wrong one, or with the token of another login session is refused with 403,
and changes nothing."""

import uuid

import pytest

from tests.api.harness import bare, fill, new_user, operations
from tests.security.world import body_for, make_owner

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# Sign-up, login and code routes are where a session starts: they need no token (api.md §2).
# The routes that take no login session (api.md §2): sign-in routes, the token login, the payment
# provider's signed webhook and the bot's service-credential route.
NO_TOKEN_NEEDED = {"/api/auth/register/", "/api/auth/login/", "/api/auth/otp/request/", "/api/auth/otp/verify/",
                   "/api/auth/token/", "/api/payments/webhook/stripe/", "/api/auth/telegram/link/"}


@pytest.fixture
def owner(system, admin):
    return make_owner(system, admin, "csrf")


@pytest.fixture
def targets(system, admin, owner):
    """Every unsafe operation, with the ids of things its caller may really change, and that caller."""
    tag = uuid.uuid4().hex[:8]
    plan = admin.post("/api/admin/subscription-types/", json={"name": f"CSRF {tag}", "sku": f"CSRF_{tag}", "price": "1"})
    model = admin.post("/api/admin/ai-models/", json={"name": f"CSRF {tag}", "model_id": f"csrf/{tag}"})
    bot = admin.post("/api/admin/chatbots/", json={"name": f"CSRF {tag}"})
    assert plan.status_code == model.status_code == bot.status_code == 201
    scratch = {"plan_id": plan.json()["id"], "model": model.json()["id"], "bot": bot.json()["id"]}
    bystander = new_user(system).user_id
    found = []
    for method, path, _ in operations(system):
        if method not in UNSAFE or path in NO_TOKEN_NEEDED:
            continue
        staff = path.startswith("/api/admin/")
        ids = {**owner.ids, **scratch, "user_id": bystander if staff else owner.client.user_id}
        if "{item_id}" in path:
            ids["item_id"] = scratch["model"] if "/ai-models/" in path else scratch["bot"]
        found.append((method, path, fill(path, ids), admin if staff else owner.client))
    assert len(found) >= 24  # logout, 9 session routes, 14 admin routes
    return found


def attempt(system, client, method: str, path: str, url: str, *, cookie: str | None, header: str | None):
    """A request on `client`'s login session, with exactly the CSRF cookie and header given."""
    http = bare(system)
    http.cookies.set("sessionid", client.http.cookies["sessionid"])
    if cookie is not None:
        http.cookies.set("csrftoken", cookie)
    headers = {"X-CSRFToken": header} if header is not None else {}
    return http.request(method, url, json=body_for(method, path), headers=headers)


def assert_refused(response, what: str) -> None:
    assert response.status_code == 403, (what, response.status_code, response.text)
    assert response.json()["detail"].startswith("CSRF Failed:"), (what, response.text)


def snapshot(owner, admin) -> dict:
    return {
        "sessions": owner.client.get("/api/chat-sessions/").json(),
        "messages": owner.client.get(f"/api/chat-sessions/{owner.session_id}/messages/").json(),
        "plans": admin.get("/api/admin/subscription-types/").json(),
        "models": admin.get("/api/admin/ai-models/").json(),
        "chatbots": admin.get("/api/admin/chatbots/").json(),
        "audit": admin.get("/api/admin/audit-log/").json(),  # a refused change is not recorded
        "me": owner.client.get("/api/users/").status_code,
    }


def test_no_header_is_refused_everywhere(system, owner, admin, targets):
    before = snapshot(owner, admin)
    for method, path, url, client in targets:
        token = client.http.cookies["csrftoken"]
        response = attempt(system, client, method, path, url, cookie=token, header=None)
        assert_refused(response, f"{method} {url} without the header")
    assert snapshot(owner, admin) == before  # nothing happened, and logout without a token kept the login


def test_a_wrong_header_is_refused_everywhere(system, owner, admin, targets):
    before = snapshot(owner, admin)
    for method, path, url, client in targets:
        token = client.http.cookies["csrftoken"]
        for wrong in ("wrong", token[:-1], token + "x", token.swapcase(), ""):
            response = attempt(system, client, method, path, url, cookie=token, header=wrong)
            assert_refused(response, f"{method} {url} with {wrong!r}")
    assert snapshot(owner, admin) == before


def test_a_header_without_the_cookie_is_refused(system, owner, admin, targets):
    before = snapshot(owner, admin)
    for method, path, url, client in targets:
        token = client.http.cookies["csrftoken"]
        assert_refused(attempt(system, client, method, path, url, cookie=None, header=token), f"{method} {url}")
    assert snapshot(owner, admin) == before


def test_the_token_of_another_login_session_is_refused(system, owner, admin, targets):
    # The attacker's own valid token, planted as the cookie and sent as the header on the victim's
    # session: the token must belong to the session, not merely match the cookie.
    theirs = new_user(system).http.cookies["csrftoken"]
    before = snapshot(owner, admin)
    for method, path, url, client in targets:
        assert theirs != client.http.cookies["csrftoken"]
        response = attempt(system, client, method, path, url, cookie=theirs, header=theirs)
        assert_refused(response, f"{method} {url} with another session's token")
    assert snapshot(owner, admin) == before


def test_the_same_session_with_its_own_token_passes(system, owner):
    # The control: the refusals above are about the token, not about the requests.
    path = "/api/chat-sessions/{session_id}/"
    url = f"/api/chat-sessions/{owner.session_id}/"
    token = owner.client.http.cookies["csrftoken"]
    response = attempt(system, owner.client, "PATCH", path, url, cookie=token, header=token)
    assert response.status_code == 200 and response.json()["title"] == "Taken over"
