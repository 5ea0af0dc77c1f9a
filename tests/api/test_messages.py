"""Reading a conversation over the real system (api.md §3.5): `reply_to` and `finish_reason`
wherever a message appears, and `?after=`, `?limit=`, `?before=` pages with `has_more`."""

import time
import uuid

import pytest

from tests.api.harness import create_session, exchange, send
from tests.support.sse import EventCollector


def messages_url(session_id: int) -> str:
    return f"/api/chat-sessions/{session_id}/messages/"


def test_replies_say_which_message_they_answer_in_the_list_the_send_answer_and_the_stream(premium):
    session = create_session(premium)
    collector = EventCollector(premium.http, f"/api/chat-sessions/{session['id']}/stream/").start()
    time.sleep(0.3)  # let the stream attach before sending
    sent = send(premium, session["id"], "Tell me about rivers.")
    assert sent.status_code == 201, sent.text
    mine = sent.json()["user_message"]
    assert mine["reply_to"] is None and mine["finish_reason"] is None  # user messages: null
    completed = collector.wait()[-1]
    assert completed["event"] == "reply.completed"
    assert completed["data"]["reply_to"] == mine["message_id"] and completed["data"]["finish_reason"] == "stop"
    listed, reply = premium.wait_for_reply(session["id"], mine["message_id"])["messages"]
    assert (listed["reply_to"], listed["finish_reason"]) == (None, None)
    assert reply["reply_to"] == mine["message_id"] and reply["finish_reason"] == "stop"


def test_a_reply_the_provider_cut_short_is_marked_error(premium):
    session = create_session(premium)
    sent = send(premium, session["id"], "Tell me a long story [[fault:cut_after=3]] [[reply:words=60]]")
    assert sent.status_code == 201, sent.text
    result = premium.wait_for_reply(session["id"], sent.json()["user_message"]["message_id"], timeout=60)
    mine, reply = result["messages"]
    assert mine["reply_status"] == "completed" and reply["content"]  # the partial text is kept
    assert reply["finish_reason"] == "error" and reply["reply_to"] == mine["message_id"]


def test_a_reply_stopped_by_the_user_is_marked_stopped(premium):
    session = create_session(premium)
    sent = send(premium, session["id"], "Write a long story [[fault:slow_first_token=2]]")
    assert sent.status_code == 201, sent.text
    assert premium.post(f"/api/chat-sessions/{session['id']}/stop/").status_code == 202
    reply = premium.wait_for_reply(session["id"], sent.json()["user_message"]["message_id"], timeout=60)["messages"][-1]
    assert reply["message_type"] == "assistant" and reply["finish_reason"] == "stopped"


def test_pages_by_limit_before_and_after(premium):
    session = create_session(premium)
    for text in ("one", "two", "three"):
        exchange(premium, session["id"], text)
    url = messages_url(session["id"])
    everything = premium.get(url).json()
    assert "has_more" not in everything  # without limit: every message, the body as documented
    ids = [m["message_id"] for m in everything["messages"]]
    assert len(ids) == 6
    newest = premium.get(url, params={"limit": 4}).json()
    assert [m["message_id"] for m in newest["messages"]] == ids[2:] and newest["has_more"] is True
    older = premium.get(url, params={"limit": 4, "before": ids[2]}).json()
    assert [m["message_id"] for m in older["messages"]] == ids[:2] and older["has_more"] is False
    later = premium.get(url, params={"after": ids[3]}).json()
    assert [m["message_id"] for m in later["messages"]] == ids[4:]
    between = premium.get(url, params={"after": ids[0], "before": ids[5], "limit": 2}).json()
    assert [m["message_id"] for m in between["messages"]] == ids[3:5] and between["has_more"] is True


@pytest.mark.parametrize("params,field", [
    ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"limit": "ten"}, "limit"),
    ({"before": "not-a-uuid"}, "before"), ({"after": str(uuid.uuid4())}, "after"),
    ({"before": str(uuid.uuid4()), "limit": 5}, "before"),
])
def test_bad_page_parameters_are_400(user, params, field):
    session = create_session(user)
    response = user.get(messages_url(session["id"]), params=params)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error" and field in response.json()["fields"]


def test_a_message_of_another_session_is_no_bound(premium):
    first, second = create_session(premium), create_session(premium)
    elsewhere = exchange(premium, first["id"], "hello")["user_message"]["message_id"]
    response = premium.get(messages_url(second["id"]), params={"after": elsewhere})
    assert response.status_code == 400 and "after" in response.json()["fields"]
