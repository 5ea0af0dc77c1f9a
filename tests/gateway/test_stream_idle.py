"""A reply stream outlives quiet periods: the blocking Redis read of `session_events` stays below the
Redis client's socket timeout (5 s), which used to end every stream that was idle that long (and with
it the docs' examples whenever a reply took a while to start)."""

import asyncio
import json
import random

from gateway.stream import session_events, stream_key

from shared.cache import make_redis


async def test_a_stream_idle_longer_than_the_socket_timeout_still_delivers(redis_url):
    redis = make_redis(redis_url)  # the gateway's own client settings
    session_id = random.randrange(10**8, 10**9)
    events = session_events(redis, session_id, user_id=7, last_event_id=None)
    try:
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
