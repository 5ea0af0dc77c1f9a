"""Sending (api.md §3.5, §4, §5): validation, Idempotency-Key, rate-limit headers, the 429, edit and
regenerate errors."""

import uuid

import pytest
from gateway.error_texts import EN, FA

from tests.api.harness import create_session, exchange, send

MESSAGE_FIELDS = {"message_id", "message_type", "content", "tokens_count", "image_url", "created_at", "edited_at",
                  "disabled", "reply_to", "finish_reason"}


def user_messages(client, session_id: int) -> list[dict]:
    messages = client.get(f"/api/chat-sessions/{session_id}/messages/").json()["messages"]
    return [m for m in messages if m["message_type"] == "user"]


def assert_400_on_message(response, fields: dict | None = None) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation_error" and body["error"]
    if fields is None:
        assert "message" in body["fields"], body
    else:
        assert body["fields"] == fields


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", " \n\t ", "x" * 32_001])
def test_empty_blank_or_too_long_messages_are_400(user, text):
    session = create_session(user)
    assert_400_on_message(send(user, session["id"], text))
    assert user_messages(user, session["id"]) == []


@pytest.mark.parametrize("body", [{}, {"message": None}, {"message": 42}, {"message": ["hi"]}, {"text": "hi"}])
def test_a_missing_or_mistyped_message_is_400(user, body):
    session = create_session(user)
    assert_400_on_message(user.post(f"/api/chat-sessions/{session['id']}/send/", json=body))


@pytest.mark.parametrize("raw", [b'{"message": "hi"', b"{message: hi}", b'{"message": "hi"} trailing'])
def test_malformed_json_is_400_with_empty_fields(user, raw):
    session = create_session(user)
    response = user.post(f"/api/chat-sessions/{session['id']}/send/", content=raw,
                         headers={"Content-Type": "application/json"})
    assert_400_on_message(response, fields={})


def test_the_longest_message_is_stored_trimmed(premium):
    session = create_session(premium)  # Premium: room for the tokens of 32,000 Persian characters
    text = ("سلام " * 6_400).strip()
    assert len(text) == 31_999
    text += "!"
    response = send(premium, session["id"], f"  {text}  \n")
    assert response.status_code == 201, response.text
    message = response.json()["user_message"]
    assert message["content"] == text  # trimmed, Persian byte for byte
    assert set(message) == MESSAGE_FIELDS | {"reply_status", "reply_error"}
    assert message["reply_status"] == "queued" and message["reply_error"] is None
    assert message["tokens_count"] > 0 and message["edited_at"] is None and message["disabled"] is False


# --- Idempotency-Key ------------------------------------------------------------------------------


def test_a_repeat_with_the_same_key_and_body_gets_the_first_answer_and_stores_nothing(user):
    session = create_session(user)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = send(user, session["id"], "Hello once", headers=key)
    assert first.status_code == 201
    again = send(user, session["id"], "Hello once", headers=key)  # no 409: nothing new is attempted
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["X-RateLimit-Remaining"] == first.headers["X-RateLimit-Remaining"]
    user.wait_for_reply(session["id"], first.json()["user_message"]["message_id"], timeout=60)
    assert [m["content"] for m in user_messages(user, session["id"])] == ["Hello once"]
    assert send(user, session["id"], "Hello once", headers=key).json() == first.json()


def test_the_same_key_with_another_body_is_422(user):
    session = create_session(user)
    key = {"Idempotency-Key": "order-42"}
    first = send(user, session["id"], "first body", headers=key)
    assert first.status_code == 201
    other = send(user, session["id"], "another body", headers=key)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused" and other.json()["error"]
    user.wait_for_reply(session["id"], first.json()["user_message"]["message_id"], timeout=60)
    assert [m["content"] for m in user_messages(user, session["id"])] == ["first body"]


def test_key_length_limit(user):
    session = create_session(user)
    too_long = send(user, session["id"], "hi", headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "validation_error" and "Idempotency-Key" in too_long.json()["fields"]
    assert user_messages(user, session["id"]) == []
    longest = send(user, session["id"], "hi", headers={"Idempotency-Key": "k" * 255})
    assert longest.status_code == 201


def test_keys_belong_to_their_user(user, basic):
    key = {"Idempotency-Key": "shared-key"}
    mine, theirs = create_session(user), create_session(basic)
    first = send(user, mine["id"], "same words", headers=key)
    second = send(basic, theirs["id"], "same words", headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["user_message"]["message_id"] != second.json()["user_message"]["message_id"]
    assert len(user_messages(basic, theirs["id"])) == 1


def test_the_same_key_on_another_session_is_another_request_and_422(user):
    key = {"Idempotency-Key": "order-7"}
    first_session, second_session = create_session(user), create_session(user)
    first = send(user, first_session["id"], "same words", headers=key)
    assert first.status_code == 201
    other = send(user, second_session["id"], "same words", headers=key)  # same body, another session
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "idempotency_key_reused"
    assert user_messages(user, second_session["id"]) == []  # no second message
    user.wait_for_reply(first_session["id"], first.json()["user_message"]["message_id"], timeout=60)
    assert send(user, first_session["id"], "same words", headers=key).json() == first.json()  # still the first


# --- rate-limit headers and the 429 ---------------------------------------------------------------


def test_send_reports_the_tightest_message_window(user):
    session = create_session(user)
    response = send(user, session["id"], "count me")
    assert response.status_code == 201
    # The Free plan allows 2 messages an hour: its tightest message window.
    assert response.headers["X-RateLimit-Limit"] == "2"
    assert response.headers["X-RateLimit-Remaining"] == "1"
    assert 0 < int(response.headers["X-RateLimit-Reset"]) <= 3600


@pytest.fixture
def limited(user):
    """A Free user who has used both messages of the hour."""
    session = create_session(user)
    exchange(user, session["id"], "one")
    exchange(user, session["id"], "two")
    return user, session


def test_the_third_message_of_the_hour_is_429(limited):
    user, session = limited
    response = send(user, session["id"], "three")
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "limit_exceeded" and body["error"] == EN["hourly_messages"]
    assert {k: body["limit"][k] for k in ("name", "limit", "used")} == {"name": "hourly_messages", "limit": 2, "used": 2}
    retry_after = body["limit"]["retry_after"]
    assert 0 < retry_after <= 3600 + 60  # the hour counts in minute buckets: up to one bucket late
    assert response.headers["Retry-After"] == str(retry_after)
    assert len(user_messages(user, session["id"])) == 2  # nothing stored


def test_a_period_total_promises_no_retry_time(user, admin):
    """max_tokens, max_tokens_free and the cost cap are reset only by a new subscription: retry_after
    is null and there is no Retry-After header, even on a plan whose period ends in 30 days."""
    body = {"name": "Tiny", "sku": f"TINY_{uuid.uuid4().hex[:8]}", "price": "1", "duration_days": 30,
            "max_tokens_free": 1}
    plan = admin.post("/api/admin/subscription-types/", json=body)
    assert plan.status_code == 201, plan.text
    started = admin.post(f"/api/admin/users/{user.user_id}/subscription/", json={"subscription_type_id": plan.json()["id"]})
    assert started.status_code == 200, started.text
    session = create_session(user)  # the free default model
    response = send(user, session["id"], "hello")
    assert response.status_code == 429, response.text
    limit = response.json()["limit"]
    assert limit["name"] == "max_tokens_free" and limit["retry_after"] is None
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize("language", ["fa", "fa-IR", "en-US;q=0.5, fa;q=0.9"])
def test_the_429_speaks_persian_when_asked(limited, language):
    user, session = limited
    response = send(user, session["id"], "three", headers={"Accept-Language": language})
    assert response.status_code == 429
    assert response.json()["error"] == FA["hourly_messages"]
    assert "Retry-After" in response.headers


def test_the_429_is_english_otherwise(limited):
    user, session = limited
    response = send(user, session["id"], "three", headers={"Accept-Language": "de-DE"})
    assert response.status_code == 429 and response.json()["error"] == EN["hourly_messages"]


# --- edit and regenerate errors -------------------------------------------------------------------


def test_edit_needs_a_user_message_of_this_session(user):
    session, other = create_session(user), create_session(user)
    result = exchange(user, session["id"], "original")
    assistant = result["messages"][-1]
    assert assistant["message_type"] == "assistant"
    mine = result["user_message"]["message_id"]
    for sid, message_id in [(session["id"], assistant["message_id"]), (session["id"], str(uuid.uuid4())), (other["id"], mine)]:
        response = user.post(f"/api/chat-sessions/{sid}/messages/{message_id}/edit/", json={"content": "changed"})
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}, (sid, message_id)
    bad_id = user.post(f"/api/chat-sessions/{session['id']}/messages/not-a-uuid/edit/", json={"content": "changed"})
    assert bad_id.status_code == 404 and bad_id.json() == {"detail": "Not found."}  # names no message (api.md §3.5)
    empty = user.post(f"/api/chat-sessions/{session['id']}/messages/{mine}/edit/", json={"content": "  "})
    assert empty.status_code == 400 and "content" in empty.json()["fields"]
    assert user_messages(user, session["id"])[0]["content"] == "original"


def test_regenerate_without_a_reply_is_400(user):
    session = create_session(user)
    response = user.post(f"/api/chat-sessions/{session['id']}/regenerate/")
    assert response.status_code == 400 and response.json()["error"]


def test_messages_carry_reply_status_only_on_user_messages(user):
    session = create_session(user)
    result = exchange(user, session["id"], "Tell me a joke")
    mine, reply = result["messages"]
    assert set(mine) == MESSAGE_FIELDS | {"reply_status", "reply_error"}
    assert set(reply) == MESSAGE_FIELDS
    assert mine["reply_status"] == "completed" and reply["image_url"] == ""


def test_send_without_the_trailing_slash(user):
    session = create_session(user)
    response = user.post(f"/api/chat-sessions/{session['id']}/send", json={"message": "no slash"}, follow_redirects=False)
    assert response.status_code == 201 and response.json()["user_message"]["content"] == "no slash"
