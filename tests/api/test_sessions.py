"""Chat session routes (api.md §3.5): create with defaults and access checks, update, delete, list, pages."""

import time

import pytest

from tests.api.harness import create_session

SESSION_FIELDS = {"id", "chatbot", "ai_model", "title", "auto_generate_title", "created_at", "updated_at", "is_active"}
GENERAL, CREATIVE, TECHNICAL, IMAGES = "General Assistant", "Creative Writer", "Technical Expert", "Image Generator"
IMAGE_MODEL = "google/gemini-2.5-flash-image-preview"


def bot_id(client, name: str, admin=None) -> int:
    """A chatbot's id by name (through the admin list, so bots the client may not see have ids too)."""
    bots = (admin or client).get("/api/admin/chatbots/" if admin else "/api/chatbots/").json()
    return next(b["id"] for b in bots if b["name"] == name)


def assert_400_on(response, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation_error" and field in body["fields"], body


# --- create ---------------------------------------------------------------------------------------


def test_create_with_only_a_chatbot_takes_the_defaults(user):
    response = user.post("/api/chat-sessions/", json={"chatbot_id": bot_id(user, GENERAL)})
    assert response.status_code == 201
    session = response.json()
    assert set(session) == SESSION_FIELDS
    assert session["title"] == "New Chat" and session["auto_generate_title"] is True and session["is_active"] is True
    assert session["chatbot"]["name"] == GENERAL
    assert session["ai_model"]["model_id"] == "google/gemini-pro"  # the chatbot's default model
    assert session["created_at"].endswith("Z") and session["updated_at"].endswith("Z")
    assert user.get(f"/api/chat-sessions/{session['id']}/").json() == session


def test_create_with_every_field(premium):
    session = create_session(premium, bot_id(premium, CREATIVE), ai_model_id="openai/gpt-4o-mini",
                             title="  Poems  ", auto_generate_title=False)
    assert session["ai_model"]["model_id"] == "openai/gpt-4o-mini"
    assert session["title"] == "Poems" and session["auto_generate_title"] is False


def test_an_image_chatbot_defaults_to_an_image_model(premium):
    session = create_session(premium, bot_id(premium, IMAGES))
    assert session["chatbot"]["chatbot_type"] == "image"
    assert session["ai_model"]["model_id"] == IMAGE_MODEL and session["ai_model"]["model_type"] == "image"


@pytest.mark.parametrize("body", [{}, {"chatbot_id": None}, {"chatbot_id": "one"}, {"title": "x"}, {"chatbot_id": 0},
                                  {"chatbot_id": 2**63}])
def test_missing_or_invalid_chatbot_id_is_400(user, body):
    assert_400_on(user.post("/api/chat-sessions/", json=body), "chatbot_id")


def test_unknown_chatbot_is_400(user):
    assert_400_on(user.post("/api/chat-sessions/", json={"chatbot_id": 99999}), "chatbot_id")


def test_inactive_chatbot_is_400(admin, premium):
    bot = admin.post("/api/admin/chatbots/", json={"name": "Sleeping bot", "is_active": False}).json()
    try:
        assert_400_on(premium.post("/api/chat-sessions/", json={"chatbot_id": bot["id"]}), "chatbot_id")
    finally:
        admin.delete(f"/api/admin/chatbots/{bot['id']}/")


@pytest.mark.parametrize("model", ["nobody/unknown-model", ""])
def test_unknown_model_is_400(user, model):
    response = user.post("/api/chat-sessions/", json={"chatbot_id": bot_id(user, GENERAL), "ai_model_id": model})
    assert_400_on(response, "ai_model_id")


def test_chatbot_access_is_checked_before_the_model(user, admin):
    technical = bot_id(user, TECHNICAL, admin)
    for model in ("openai/gpt-4-turbo", "google/gemini-pro", "nobody/unknown-model"):
        response = user.post("/api/chat-sessions/", json={"chatbot_id": technical, "ai_model_id": model})
        assert response.status_code == 403, (model, response.text)
        assert response.json()["code"] == "chatbot_access_denied" and response.json()["error"]


def test_a_model_the_plan_does_not_include_is_403(user, basic):
    response = user.post("/api/chat-sessions/", json={"chatbot_id": bot_id(user, GENERAL), "ai_model_id": "anthropic/claude-3-opus"})
    assert response.status_code == 403 and response.json()["code"] == "model_access_denied"
    response = basic.post("/api/chat-sessions/", json={"chatbot_id": bot_id(basic, GENERAL), "ai_model_id": "openai/gpt-4-turbo"})
    assert response.status_code == 403 and response.json()["code"] == "model_access_denied"


def test_chatbot_and_model_types_must_match(premium):
    text_bot_image_model = {"chatbot_id": bot_id(premium, GENERAL), "ai_model_id": IMAGE_MODEL}
    assert_400_on(premium.post("/api/chat-sessions/", json=text_bot_image_model), "ai_model_id")
    image_bot_text_model = {"chatbot_id": bot_id(premium, IMAGES), "ai_model_id": "google/gemini-pro"}
    assert_400_on(premium.post("/api/chat-sessions/", json=image_bot_text_model), "ai_model_id")
    assert premium.get("/api/chat-sessions/").json() == []  # nothing was created on the way


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_a_bad_title_is_400(user, title):
    assert_400_on(user.post("/api/chat-sessions/", json={"chatbot_id": 1, "title": title}), "title")


# --- update ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_read_only_fields_are_ignored(user, method):
    session = create_session(user)
    forged = {
        "id": session["id"] + 1000, "is_active": False, "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z", "chatbot": {"id": 3, "name": "Technical Expert"},
        "chatbot_id": 3, "ai_model": {"id": 1}, "user_id": 1,
    }
    response = user.request(method, f"/api/chat-sessions/{session['id']}/", json=forged)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after == user.get(f"/api/chat-sessions/{session['id']}/").json()
    for field in ("id", "is_active", "created_at", "chatbot", "ai_model", "title", "auto_generate_title"):
        assert after[field] == session[field], field


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_setting_the_title_turns_auto_titles_off(user, method):
    session = create_session(user)
    time.sleep(0.01)  # updated_at must move on a clock with millisecond precision
    response = user.request(method, f"/api/chat-sessions/{session['id']}/", json={"title": "Trip to Shiraz"})
    assert response.status_code == 200
    after = response.json()
    assert after["title"] == "Trip to Shiraz" and after["auto_generate_title"] is False
    assert after["updated_at"] > session["updated_at"]


def test_a_body_may_keep_auto_titles_on_while_setting_the_title(user):
    session = create_session(user)
    after = user.patch(f"/api/chat-sessions/{session['id']}/", json={"title": "Kept", "auto_generate_title": True}).json()
    assert after["title"] == "Kept" and after["auto_generate_title"] is True


def test_auto_title_flag_alone_and_null_fields(user):
    session = create_session(user)
    off = user.patch(f"/api/chat-sessions/{session['id']}/", json={"auto_generate_title": False}).json()
    assert off["auto_generate_title"] is False and off["title"] == "New Chat"
    on = user.patch(f"/api/chat-sessions/{session['id']}/", json={"auto_generate_title": True}).json()
    assert on["auto_generate_title"] is True
    # null is "not changing it": the title stays, and so does the automatic title.
    same = user.patch(f"/api/chat-sessions/{session['id']}/", json={"title": None, "ai_model_id": None})
    assert same.status_code == 200
    assert same.json()["title"] == "New Chat" and same.json()["auto_generate_title"] is True


def test_switching_the_model_follows_the_access_rules(user):
    session = create_session(user)
    switched = user.patch(f"/api/chat-sessions/{session['id']}/", json={"ai_model_id": "openai/gpt-4o-mini"})
    assert switched.status_code == 200 and switched.json()["ai_model"]["model_id"] == "openai/gpt-4o-mini"
    denied = user.put(f"/api/chat-sessions/{session['id']}/", json={"ai_model_id": "openai/gpt-4-turbo"})
    assert denied.status_code == 403 and denied.json()["code"] == "model_access_denied"
    assert_400_on(user.put(f"/api/chat-sessions/{session['id']}/", json={"ai_model_id": "nobody/unknown"}), "ai_model_id")
    assert user.get(f"/api/chat-sessions/{session['id']}/").json()["ai_model"]["model_id"] == "openai/gpt-4o-mini"


def test_switching_a_text_session_to_an_image_model_is_400(premium):
    session = create_session(premium)
    assert_400_on(premium.patch(f"/api/chat-sessions/{session['id']}/", json={"ai_model_id": IMAGE_MODEL}), "ai_model_id")


@pytest.mark.parametrize("title", ["", "x" * 201, 5])
def test_a_bad_title_update_is_400(user, title):
    session = create_session(user)
    assert_400_on(user.put(f"/api/chat-sessions/{session['id']}/", json={"title": title}), "title")


def test_update_title_route(user):
    session = create_session(user)
    response = user.post(f"/api/chat-sessions/{session['id']}/update-title/", json={"title": " گفتگو درباره شعر "})
    assert response.status_code == 200
    assert response.json() == {"success": True, "title": "گفتگو درباره شعر"}  # Persian round-trips, trimmed
    after = user.get(f"/api/chat-sessions/{session['id']}/").json()
    assert after["title"] == "گفتگو درباره شعر" and after["auto_generate_title"] is False


@pytest.mark.parametrize("body", [{"title": ""}, {"title": "   "}, {}, {"title": "x" * 201}])
def test_update_title_refuses_an_empty_or_long_title(user, body):
    session = create_session(user)
    assert_400_on(user.post(f"/api/chat-sessions/{session['id']}/update-title/", json=body), "title")


# --- delete, list ---------------------------------------------------------------------------------


def test_delete_is_soft_and_then_everything_is_404(user):
    session = create_session(user)
    response = user.delete(f"/api/chat-sessions/{session['id']}/")
    assert response.status_code == 200 and response.json() == {"success": True}
    assert user.get("/api/chat-sessions/").json() == []
    for method, path in [("GET", ""), ("DELETE", ""), ("GET", "messages/"), ("PATCH", "")]:
        again = user.request(method, f"/api/chat-sessions/{session['id']}/{path}", json={"title": "x"})
        assert again.status_code == 404 and again.json() == {"detail": "Not found."}, (method, path)


def test_list_is_newest_updated_first(user):
    first, second = create_session(user, title="first"), create_session(user, title="second")
    assert [s["id"] for s in user.get("/api/chat-sessions/").json()] == [second["id"], first["id"]]
    time.sleep(0.01)
    user.patch(f"/api/chat-sessions/{first['id']}/", json={"title": "first, renamed"})
    listed = user.get("/api/chat-sessions/").json()
    assert [s["id"] for s in listed] == [first["id"], second["id"]]
    assert all(set(s) == SESSION_FIELDS for s in listed)


def test_session_pages(user):
    ids = [create_session(user, title=f"s{i}")["id"] for i in range(3)]
    newest_first = ids[::-1]
    page = user.get("/api/chat-sessions/", params={"page": 1, "page_size": 2}).json()
    assert page["count"] == 3 and [s["id"] for s in page["results"]] == newest_first[:2]
    assert page["previous"] is None and "page=2" in page["next"]
    rest = user.get(page["next"]).json()
    assert [s["id"] for s in rest["results"]] == newest_first[2:] and rest["next"] is None
    assert user.get("/api/chat-sessions/", params={"page": 3, "page_size": 2}).json()["results"] == []
    big = user.get("/api/chat-sessions/", params={"page": 1, "page_size": 1000}).json()
    assert big["count"] == 3 and len(big["results"]) == 3


def test_session_routes_without_the_trailing_slash(user):
    created = user.post("/api/chat-sessions", json={"chatbot_id": 1}, follow_redirects=False)
    assert created.status_code == 201
    sid = created.json()["id"]
    assert user.get("/api/chat-sessions", follow_redirects=False).json()[0]["id"] == sid
    assert user.get(f"/api/chat-sessions/{sid}", follow_redirects=False).status_code == 200
    renamed = user.patch(f"/api/chat-sessions/{sid}", json={"title": "No slash"}, follow_redirects=False)
    assert renamed.status_code == 200 and renamed.json()["title"] == "No slash"
    titled = user.post(f"/api/chat-sessions/{sid}/update-title", json={"title": "Still none"}, follow_redirects=False)
    assert titled.status_code == 200
    assert user.get(f"/api/chat-sessions/{sid}/messages", follow_redirects=False).json() == {"messages": []}
    assert user.delete(f"/api/chat-sessions/{sid}", follow_redirects=False).status_code == 200
