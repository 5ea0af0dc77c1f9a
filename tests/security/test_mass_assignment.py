"""Mass assignment: fields a client may not set (is_staff, is_verified, id, user_id, ownership, message
roles) are ignored wherever a body could carry them."""

import uuid

from tests.api.harness import PASSWORD, bare, create_session, new_phone, new_user
from tests.security.world import code_from_log

FORGED_USER = {"is_staff": True, "is_superuser": True, "is_verified": True, "id": 1, "user_id": 1,
               "date_joined": "2000-01-01T00:00:00Z", "subscription_type_id": 3}


def test_register_ignores_privileged_fields(system, admin):
    phone = new_phone()
    client = bare(system)
    response = client.post("/api/auth/register/", json={"phone_number": phone, "name": "Mallory", "password": PASSWORD,
                                                         **FORGED_USER})
    assert response.status_code == 202, response.text
    response = client.post("/api/auth/otp/verify/", json={
        "phone_number": phone, "code": code_from_log(system, phone),
        "registration_id": response.json()["registration_id"], **FORGED_USER,
    })
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["id"] != 1 and not me["date_joined"].startswith("2000")
    assert set(me) == {"id", "phone_number", "name", "is_verified", "date_joined"}  # is_staff is never even shown
    assert client.get("/api/admin/users/").status_code == 403
    listed = admin.get("/api/admin/users/", params={"phone": phone[-7:]}).json()
    assert [(u["id"], u["is_staff"]) for u in listed] == [(me["id"], False)]
    assert listed[0]["subscription"]["subscription_type"]["sku"] == "FREE_SUB_30D"


def test_login_cannot_choose_the_user(system):
    mallory, alice = new_user(system), new_user(system)
    client = bare(system)
    response = client.post("/api/auth/login/", json={"phone_number": mallory.phone, "password": PASSWORD,
                                                     "user_id": alice.user_id, "id": alice.user_id})
    assert response.status_code == 200 and response.json()["id"] == mallory.user_id
    assert client.get("/api/users/").json()["id"] == mallory.user_id


def test_a_session_is_always_the_callers(system):
    mallory, alice = new_user(system), new_user(system)
    response = mallory.post("/api/chat-sessions/", json={
        "chatbot_id": 1, "user_id": alice.user_id, "id": 1, "is_active": False, "created_at": "2000-01-01T00:00:00Z",
        "chatbot": {"id": 3, "name": "Technical Expert"}, "ai_model": {"id": 1, "model_id": "openai/gpt-4-turbo"},
    })
    assert response.status_code == 201, response.text
    session = response.json()
    assert session["is_active"] is True and not session["created_at"].startswith("2000")
    assert session["chatbot"]["name"] == "General Assistant" and session["ai_model"]["is_free"] is True
    assert [s["id"] for s in mallory.get("/api/chat-sessions/").json()] == [session["id"]]
    assert alice.get("/api/chat-sessions/").json() == []
    moved = mallory.patch(f"/api/chat-sessions/{session['id']}/", json={"user_id": alice.user_id, "title": "Still mine"})
    assert moved.status_code == 200
    assert alice.get(f"/api/chat-sessions/{session['id']}/").status_code == 404
    assert mallory.get(f"/api/chat-sessions/{session['id']}/").json()["title"] == "Still mine"


def test_a_sent_message_is_always_a_user_message_of_the_callers_session(system):
    mallory, alice = new_user(system), new_user(system)
    mine, theirs = create_session(mallory), create_session(alice)
    forged_id = str(uuid.uuid4())
    response = mallory.post(f"/api/chat-sessions/{mine['id']}/send/", json={
        "message": "An honest question", "message_type": "assistant", "message_id": forged_id, "tokens_count": 0,
        "disabled": True, "image_url": "/media/evil.svg", "session_id": theirs["id"], "user_id": alice.user_id,
        "reply_status": "completed",
    })
    assert response.status_code == 201, response.text
    stored = response.json()["user_message"]
    assert stored["message_type"] == "user" and stored["message_id"] != forged_id
    assert stored["tokens_count"] > 0 and stored["disabled"] is False and stored["image_url"] == ""
    assert stored["reply_status"] == "queued"
    assert alice.get(f"/api/chat-sessions/{theirs['id']}/messages/").json() == {"messages": []}


def test_update_title_always_turns_auto_titles_off(user):
    session = create_session(user)
    response = user.post(f"/api/chat-sessions/{session['id']}/update-title/",
                         json={"title": "Chosen", "auto_generate_title": True})
    assert response.status_code == 200
    assert user.get(f"/api/chat-sessions/{session['id']}/").json()["auto_generate_title"] is False


def test_a_code_login_ignores_privileged_fields(system):
    phone = new_phone()
    client = bare(system)
    assert client.post("/api/auth/otp/request/", json={"phone_number": phone}).status_code == 200
    code = code_from_log(system, phone)
    response = client.post("/api/auth/otp/verify/", json={"phone_number": phone, "code": code, "name": "Eve",
                                                           **FORGED_USER})
    assert response.status_code == 200, response.text
    assert response.json()["id"] != 1
    assert client.get("/api/admin/chatbots/").status_code == 403
