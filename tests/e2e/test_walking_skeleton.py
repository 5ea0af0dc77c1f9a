"""The README's curl walk, end to end over real processes: register, create a session, send, read the reply."""

import httpx


def test_gateway_is_ready_only_with_everything_connected(system):
    body = httpx.get(f"{system.gateway_url}/readyz", timeout=5).json()
    assert body["ready"] is True
    assert all(body["checks"].values())


def test_register_create_send_and_read_the_reply(api):
    user = api.register(name="Sara")
    assert user["name"] == "Sara" and user["phone_number"].startswith("+98")
    me = api.get("/api/users/").json()
    assert me["id"] == user["id"]

    bots = api.get("/api/chatbots/").json()
    general = next(b for b in bots if b["name"] == "General Assistant")
    created = api.post("/api/chat-sessions/", json={"chatbot_id": general["id"]})
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["title"] == "New Chat" and session["ai_model"]["is_free"] is True

    sent = api.post(f"/api/chat-sessions/{session['id']}/send/", json={"message": "Hello! What can you do?"})
    assert sent.status_code == 201, sent.text
    user_message = sent.json()["user_message"]
    assert user_message["content"] == "Hello! What can you do?"
    assert user_message["reply_status"] == "queued"

    result = api.wait_for_reply(session["id"], user_message["message_id"])
    assert result["user_message"]["reply_status"] == "completed"
    reply = result["messages"][-1]
    assert reply["message_type"] == "assistant" and reply["content"].strip()
    assert "reply_status" not in reply
    assert reply["tokens_count"] > 0
