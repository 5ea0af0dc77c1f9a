"""Where a session's event stream starts and when it ends (gateway.stream), over real Redis: a `retry:`
line first, the reply in progress from its `reply.queued`, the end marker of a deleted session, and a
login that is gone. End to end (pings, a slow model, a real gateway) in tests/e2e/test_http_hygiene.py."""

import asyncio
import json
import random

import pytest
from gateway import stream
from gateway.stream import END_EVENT, end_streams, session_events, start_cursor, stream_key

USER = 7


@pytest.fixture
async def session_id(redis):
    sid = random.randrange(10**8, 10**9)
    yield sid
    await redis.delete(stream_key(sid))


async def add(redis, sid: int, event: str, user_id: int | str = USER, **data) -> str:
    return await redis.xadd(stream_key(sid), {"event": event, "data": json.dumps(data), "user_id": str(user_id)})


async def alive() -> bool:
    return True


async def take(events, count: int) -> list[dict]:
    return [await asyncio.wait_for(anext(events), 10) for _ in range(count)]


async def test_the_stream_starts_with_a_retry_line_then_the_reply_in_progress(redis, session_id):
    await add(redis, session_id, "reply.queued", message_id="a")
    await add(redis, session_id, "reply.delta", message_id="a", delta="old")
    await add(redis, session_id, "reply.completed", message_id="a")
    queued = await add(redis, session_id, "reply.queued", message_id="b")
    await add(redis, session_id, "reply.delta", message_id="b", delta="He")
    await add(redis, session_id, "reply.delta", message_id="b", delta="llo")
    events = session_events(redis, session_id, USER, None, login_alive=alive)
    try:
        first, *rest = await take(events, 4)
        assert first == {"retry": stream.RETRY_MS}
        assert [e["event"] for e in rest] == ["reply.queued", "reply.delta", "reply.delta"]
        assert rest[0]["id"] == queued
    finally:
        await events.aclose()


async def test_a_delta_the_worker_wrote_before_reply_queued_is_part_of_the_snapshot(redis, session_id):
    # The worker writes deltas to the stream itself; the gateway appends `reply.queued` from the broker
    # and may come second. A client connecting now still gets the reply from its first entry.
    await add(redis, session_id, "reply.queued", message_id="a")
    await add(redis, session_id, "reply.completed", message_id="a")
    first = await add(redis, session_id, "reply.delta", message_id="b", delta="He", seq=0, attempt=1)
    await add(redis, session_id, "reply.queued", message_id="b")
    await add(redis, session_id, "reply.delta", message_id="b", delta="llo", seq=1, attempt=1)
    events = session_events(redis, session_id, USER, None, login_alive=alive)
    try:
        _, *rest = await take(events, 4)
        assert [(e["event"], e["id"] == first) for e in rest] == [
            ("reply.delta", True), ("reply.queued", False), ("reply.delta", False)]
    finally:
        await events.aclose()


async def test_a_reader_drops_deltas_of_an_attempt_older_than_one_it_sent(redis, session_id):
    # A command redelivered after its worker lost the broker streams again as attempt 2; the first
    # worker, still alive, must not splice its old text into what the reader shows.
    await add(redis, session_id, "reply.queued", message_id="b")
    await add(redis, session_id, "reply.delta", message_id="b", delta="old ", seq=0, attempt=1)
    await add(redis, session_id, "reply.delta", message_id="b", delta="new ", seq=0, attempt=2)
    await add(redis, session_id, "reply.delta", message_id="b", delta="stale ", seq=1, attempt=1)
    await add(redis, session_id, "reply.delta", message_id="b", delta="text", seq=1, attempt=2)
    await add(redis, session_id, "reply.completed", message_id="b", content="new text")
    events = session_events(redis, session_id, USER, "0-0", login_alive=alive)
    try:
        _, *rest = await take(events, 6)
        deltas = [json.loads(e["data"]) for e in rest if e["event"] == "reply.delta"]
        assert [(d["attempt"], d["delta"]) for d in deltas] == [(1, "old "), (2, "new "), (2, "text")]
        assert rest[-1]["event"] == "reply.completed"
    finally:
        await events.aclose()


async def test_without_a_reply_in_progress_the_stream_starts_after_the_newest_event(redis, session_id):
    await add(redis, session_id, "reply.queued", message_id="a")
    newest = await add(redis, session_id, "reply.completed", message_id="a")
    await add(redis, session_id, "session.title", title="Sea")  # not a reply event: still "done"
    assert await start_cursor(redis, stream_key(session_id)) > newest
    assert await start_cursor(redis, stream_key(session_id + 1)) == "0-0"  # no stream yet: everything


async def test_a_long_reply_in_progress_is_found_past_one_page(redis, session_id, monkeypatch):
    monkeypatch.setattr(stream, "SCAN_PAGE", 3)
    queued = await add(redis, session_id, "reply.queued", message_id="b")
    for i in range(10):
        await add(redis, session_id, "reply.delta", message_id="b", delta=str(i))
    cursor = await start_cursor(redis, stream_key(session_id))
    after = await redis.xread({stream_key(session_id): cursor}, count=1)
    assert after[0][1][0][0] == queued


async def test_deleting_the_session_ends_its_streams(redis, session_id):
    events = session_events(redis, session_id, USER, None, login_alive=alive)
    assert await take(events, 1) == [{"retry": stream.RETRY_MS}]
    reader = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.2)
    await end_streams(redis, session_id)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reader, 10)
    entries = await redis.xrange(stream_key(session_id))
    assert entries[-1][1]["event"] == END_EVENT


async def test_the_stream_ends_when_the_login_is_gone(redis, session_id, monkeypatch):
    monkeypatch.setattr(stream, "BLOCK_MS", 100)
    logged_in = True

    async def login_alive() -> bool:
        return logged_in

    events = session_events(redis, session_id, USER, None, login_alive=login_alive)
    await take(events, 1)
    await add(redis, session_id, "reply.queued", message_id="a")
    assert (await take(events, 1))[0]["event"] == "reply.queued"
    logged_in = False
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(events), 10)


async def test_other_users_events_are_skipped(redis, session_id):
    await add(redis, session_id, "reply.queued", user_id=USER + 1, message_id="x")
    mine = await add(redis, session_id, "session.title", title="Mine")
    events = session_events(redis, session_id, USER, "0-0", login_alive=alive)
    try:
        assert [e.get("id") for e in await take(events, 2)] == [None, mine]
    finally:
        await events.aclose()
