"""A user never sees another user's data: not in any list route of the OpenAPI document (plain or paged),
not in their own sessions, not in the reply stream."""

import time

import pytest

from tests.api.harness import exchange, fill, operations, send
from tests.security.world import ADMIN_PREFIX, PUBLIC, make_owner
from tests.support.sse import EventCollector


@pytest.fixture
def alice(system, admin):
    return make_owner(system, admin, "alice-7f3a")


@pytest.fixture
def bob(system, admin):
    bob = make_owner(system, admin, "bob-c91e")
    exchange(bob.client, bob.session_id, "More of bob-c91e's private notes")
    return bob


def traces(owner) -> set[str]:
    """Strings that could only come from this user's data."""
    messages = owner.client.get(f"/api/chat-sessions/{owner.session_id}/messages/").json()["messages"]
    assert messages
    return {owner.marker, owner.client.phone, *(m["message_id"] for m in messages)}


def everything_visible_to(owner, system) -> list[tuple[str, object]]:
    """Every GET of the document the user may call: lists (plain and paged) and their own items."""
    seen = []
    for method, path, op in operations(system):
        if method != "GET" or path.startswith((*PUBLIC, ADMIN_PREFIX)) or path.endswith("/stream/"):
            continue
        url = fill(path, owner.ids)
        response = owner.client.get(url)
        assert response.status_code == 200, (url, response.text)
        seen.append((url, response.json()))
        if any(p["name"] == "page" for p in op.get("parameters", [])):
            paged = owner.client.get(url, params={"page": 1, "page_size": 100})
            seen.append((f"{url}?page=1", paged.json()))
    assert len(seen) >= 15
    return seen


def test_no_route_shows_another_users_data(system, alice, bob):
    foreign = traces(bob)
    foreign_sessions = {bob.session_id}
    for url, body in everything_visible_to(alice, system):
        text = str(body)
        for trace in foreign:
            assert trace not in text, (url, trace)
        if url.startswith("/api/chat-sessions/?") or url == "/api/chat-sessions/":
            rows = body["results"] if isinstance(body, dict) else body
            assert {s["id"] for s in rows} == {alice.session_id}, url
        if url.startswith("/api/chat-session-usages/"):
            rows = body["results"] if isinstance(body, dict) else body
            assert {r["session_id"] for r in rows} <= {alice.session_id} and not {r["session_id"] for r in rows} & foreign_sessions
        if url == "/api/users/":
            assert body["id"] == alice.client.user_id
    # Her own data is there: the check above looked at real answers.
    mine = str(dict(everything_visible_to(alice, system)))
    assert all(trace in mine for trace in traces(alice))


def test_usage_counts_only_the_callers_exchanges(alice, bob):
    limits = {e["name"]: e for e in alice.client.get("/api/users/usage/").json()["limits"]}
    assert limits["hourly_messages"]["used"] == 1  # bob's two exchanges are his
    bobs = {e["name"]: e for e in bob.client.get("/api/users/usage/").json()["limits"]}
    assert bobs["hourly_messages"]["used"] == 2


def test_the_stream_carries_only_the_callers_events(system, alice, bob):
    stream = f"/api/chat-sessions/{alice.session_id}/stream/"
    assert bob.client.get(stream).status_code == 404
    collector = EventCollector(alice.client.http, stream).start()
    time.sleep(0.3)  # the stream reads from "now": let it attach before anything is sent
    bobs = send(bob.client, bob.session_id, "bob-c91e sends while alice listens")
    assert bobs.status_code == 201
    bob.client.wait_for_reply(bob.session_id, bobs.json()["user_message"]["message_id"], timeout=60)
    hers = send(alice.client, alice.session_id, "alice-7f3a asks something")
    assert hers.status_code == 201
    events = collector.wait(60)
    assert events[-1]["event"] == "reply.completed"
    assert any(e["event"] == "reply.delta" for e in events)
    foreign = traces(bob) | {bobs.json()["user_message"]["message_id"]}
    for event in events:
        for trace in foreign:
            assert trace not in str(event), (event, trace)
    queued = next(e for e in events if e["event"] == "reply.queued")
    assert queued["data"]["user_message"]["message_id"] == hers.json()["user_message"]["message_id"]


def test_resuming_a_stream_with_a_foreign_event_id_shows_nothing_foreign(system, alice, bob):
    # Last-Event-ID is a Redis stream id; one taken from bob's stream must not open bob's events.
    collector = EventCollector(bob.client.http, f"/api/chat-sessions/{bob.session_id}/stream/",
                               until=lambda e: e["event"] == "reply.queued").start()
    time.sleep(0.3)
    bobs = send(bob.client, bob.session_id, "bob-c91e again")
    bob_event_id = collector.wait(60)[-1]["id"]
    bob.client.wait_for_reply(bob.session_id, bobs.json()["user_message"]["message_id"], timeout=60)
    resumed = EventCollector(alice.client.http, f"/api/chat-sessions/{alice.session_id}/stream/",
                             headers={"Last-Event-ID": bob_event_id}).start()
    time.sleep(0.3)
    hers = send(alice.client, alice.session_id, "alice-7f3a again")
    assert hers.status_code == 201
    events = resumed.wait(60)
    assert events and "bob-c91e" not in str(events)
