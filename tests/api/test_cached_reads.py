"""The gateway answers the session list and the caller's user from Redis copies (gateway.read_cache).
Each test reads first, so a copy exists, then changes the data the way a client or operator would, and
reads again at once: the copy must never show what was there before."""

from datetime import datetime

from tests.api.harness import PASSWORD, bare, create_session, new_user, send
from tests.support.sse import EventCollector


def _listed(client, session_id: int) -> dict:
    response = client.get("/api/chat-sessions/")
    assert response.status_code == 200, response.text
    return next(s for s in response.json() if s["id"] == session_id)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_stored_reply_and_a_generated_title_show_as_soon_as_streamed(premium):
    older, session = create_session(premium), create_session(premium)  # titles generated from the reply
    assert _listed(premium, session["id"])["title"] == "New Chat"
    events = EventCollector(premium.http, f"/api/chat-sessions/{session['id']}/stream/",
                            until=lambda e: e["event"] == "session.title").start()
    sent = send(premium, session["id"], "Tell me about the sea in three words.")
    assert sent.status_code == 201, sent.text
    after_send = _listed(premium, session["id"])
    seen = events.wait(60)

    completed = next(e for e in seen if e["event"] == "reply.completed")
    # Read right after the event, as a client would: the list already has the reply's activity…
    listed = _listed(premium, session["id"])
    assert _moment(listed["updated_at"]) >= _moment(completed["data"]["created_at"]) > _moment(after_send["updated_at"])
    titled = next(e for e in seen if e["event"] == "session.title")
    # …and the title the stream announced.
    assert _listed(premium, session["id"])["title"] == titled["data"]["title"] != "New Chat"
    order = [s["id"] for s in premium.get("/api/chat-sessions/").json()]
    assert order.index(session["id"]) < order.index(older["id"])


def test_a_catalog_edit_reaches_every_cached_list(user, admin):
    session = create_session(user)
    bot = _listed(user, session["id"])["chatbot"]
    try:
        edited = admin.patch(f"/api/admin/chatbots/{bot['id']}/", json={"description": "Edited while cached"})
        assert edited.status_code == 200, edited.text
        assert _listed(user, session["id"])["chatbot"]["description"] == "Edited while cached"
    finally:
        admin.patch(f"/api/admin/chatbots/{bot['id']}/", json={"description": bot["description"]})


def test_a_password_change_applies_to_the_cached_user_at_once(user, system):
    assert user.get("/api/users/").json()["is_verified"] is True  # registering proved the phone
    changed = user.post("/api/auth/password/", json={"current_password": PASSWORD, "new_password": "fresh passphrase 2"})
    assert changed.status_code == 200, changed.text
    assert user.get("/api/users/").json()["id"] == user.user_id  # the caller's login goes on
    old = bare(system).post("/api/auth/login/", json={"phone_number": user.phone, "password": PASSWORD})
    new = bare(system).post("/api/auth/login/", json={"phone_number": user.phone, "password": "fresh passphrase 2"})
    assert (old.status_code, new.status_code) == (401, 200)


def test_staff_rights_granted_and_withdrawn_apply_to_the_next_request(user, admin):
    assert user.get("/api/admin/users/").status_code == 403
    assert admin.post(f"/api/admin/users/{user.user_id}/staff/", json={"is_staff": True}).status_code == 200
    assert user.get("/api/admin/users/").status_code == 200
    assert admin.post(f"/api/admin/users/{user.user_id}/staff/", json={"is_staff": False}).status_code == 200
    assert user.get("/api/admin/users/").status_code == 403


def test_another_users_list_is_never_served(user, system):
    other = new_user(system)
    mine = create_session(user, title="mine")
    create_session(other, title="theirs")
    assert [s["title"] for s in user.get("/api/chat-sessions/").json()] == ["mine"]
    assert [s["title"] for s in other.get("/api/chat-sessions/").json()] == ["theirs"]
    assert user.delete(f"/api/chat-sessions/{mine['id']}/").status_code == 200
    assert user.get("/api/chat-sessions/").json() == []


def test_the_cached_list_equals_a_fresh_read_after_each_change_to_one_session_among_many(user):
    """Each change re-reads only its own row into the copy; the list must stay exactly what chat holds
    (a `?page=` read goes to chat's database every time)."""

    def fresh() -> list[dict]:
        page = user.get("/api/chat-sessions/", params={"page": 1, "page_size": 100})
        assert page.status_code == 200, page.text
        return page.json()["results"]

    def cached() -> list[dict]:
        response = user.get("/api/chat-sessions/")
        assert response.status_code == 200, response.text
        return response.json()

    sessions = [create_session(user, title=f"Session {n}") for n in range(12)]
    assert cached() == fresh()
    middle, other, doomed = sessions[4], sessions[7], sessions[9]
    renamed = user.patch(f"/api/chat-sessions/{middle['id']}/", json={"title": "Renamed «تازه»"})
    assert renamed.status_code == 200, renamed.text
    assert cached() == fresh() and cached()[0]["title"] == "Renamed «تازه»"
    sent = send(user, other["id"], "Move this one to the top.")
    assert sent.status_code == 201, sent.text
    assert cached() == fresh() and cached()[0]["id"] == other["id"]
    user.wait_for_reply(other["id"], sent.json()["user_message"]["message_id"], timeout=60)
    assert cached() == fresh()  # the stored reply moved it again
    assert user.delete(f"/api/chat-sessions/{doomed['id']}/").status_code == 200
    assert cached() == fresh() and doomed["id"] not in {s["id"] for s in cached()}
    created = create_session(user, title="Newest")
    assert cached() == fresh() and cached()[0]["id"] == created["id"]
