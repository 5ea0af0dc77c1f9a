"""Sends to one session at once (a double click, a retrying client): architecture §3 decides
`reply_in_progress` before any admission, so the losers are 409, never a 429 for budget that only
the parallel sends themselves held."""

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.api.harness import create_session, send

PARALLEL = 6  # more than the Free plan's 2 messages an hour


def test_parallel_sends_to_one_session_are_one_201_and_the_rest_409(user):
    session = create_session(user)
    start = threading.Barrier(PARALLEL)

    def one(i: int):
        start.wait()
        return send(user, session["id"], f"click {i}")

    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(one, range(PARALLEL)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * (PARALLEL - 1), [(r.status_code, r.text) for r in answers]
    assert all(r.json()["code"] == "reply_in_progress" for r in answers if r.status_code == 409)
    messages = user.get(f"/api/chat-sessions/{session['id']}/messages/").json()["messages"]
    assert [m["content"] for m in messages if m["message_type"] == "user"] == [
        next(r for r in answers if r.status_code == 201).json()["user_message"]["content"]]
    # The losers kept no budget: the Free plan's second message of the hour is still there.
    created = next(r for r in answers if r.status_code == 201)
    assert created.headers["X-RateLimit-Remaining"] == "1"
