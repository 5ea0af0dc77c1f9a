"""A reply stream outlives quiet periods: the blocking Redis reads of `session_events` run on a client
whose socket timeout outlasts a block; the shared client's 5 s timeout used to end every stream that
was idle that long (and with it the docs' examples whenever a reply took a while to start)."""

import asyncio
import json
import random

from gateway.stream import make_stream_redis, session_events, stream_key


async def test_a_stream_idle_longer_than_the_socket_timeout_still_delivers(redis_url):
    redis = make_stream_redis(redis_url)  # the gateway's client for blocking reads

    async def alive() -> bool:
        return True

    session_id = random.randrange(10**8, 10**9)
    events = session_events(redis, session_id, user_id=7, last_event_id=None, login_alive=alive)
    try:
        assert "retry" in await anext(events)  # the stream opens with its retry line
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(6.5)  # quiet for longer than the 5 s socket timeout
        assert not first.done() or first.exception() is None
        await redis.xadd(stream_key(session_id), {"event": "session.title", "data": json.dumps({"title": "Hi"}),
                                                  "user_id": "7"})
        event = await asyncio.wait_for(first, 30)
        assert event["event"] == "session.title" and json.loads(event["data"]) == {"title": "Hi"}
    finally:
        await events.aclose()
        await redis.delete(stream_key(session_id))
        await redis.aclose()
