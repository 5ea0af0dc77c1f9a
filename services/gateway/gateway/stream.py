"""Reply streaming for clients (api.md §5): Server-Sent Events backed by a Redis stream per session.

One gateway replica at a time consumes `gateway.stream_events` (single active consumer keeps deltas in
order) and appends each event to `mobix:stream:<session>`; every replica serves SSE by reading that
stream, so a client may connect to any replica and resume with `Last-Event-ID`.
"""

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from faststream.rabbit import RabbitRouter
from redis.asyncio import Redis

from gateway.session_lists import SessionLists
from shared import topology
from shared.consumers import current_delivery
from shared.topology import Keys

log = logging.getLogger(__name__)
STREAM_MAXLEN = 2_000
STREAM_TTL_SECONDS = 3_600
# Below the Redis client's socket timeout (shared.cache, 5 s): a longer blocking read is cut by that
# timeout, which ended every stream that stayed idle for 5 s. An empty read just loops.
BLOCK_MS = 4_000

# routing key -> (SSE event name, how to shape the data)
EVENT_NAMES = {
    Keys.REPLY_QUEUED: "reply.queued",
    Keys.REPLY_DELTA: "reply.delta",
    Keys.REPLY_STORED: "reply.completed",
    Keys.REPLY_FAILED: "reply.failed",
    Keys.SESSION_TITLED: "session.title",
}


# Events after which chat has changed a session of the user's list (a reply moves `updated_at`).
LIST_CHANGES = frozenset({Keys.REPLY_STORED, Keys.SESSION_TITLED})


def stream_key(session_id: int) -> str:
    return f"mobix:stream:{session_id}"


def shape(routing_key: str, body: dict[str, Any]) -> dict[str, Any]:
    if routing_key == Keys.REPLY_QUEUED:
        return {"message_id": body["exchange_id"], "user_message": body["user_message"]}
    if routing_key == Keys.REPLY_DELTA:
        return {"message_id": body["exchange_id"], "delta": body["delta"], "seq": body["seq"], "attempt": body.get("attempt", 1)}
    if routing_key == Keys.REPLY_STORED:
        message = {k: v for k, v in body["message"].items() if k not in ("reply_status", "reply_error")}
        return message
    if routing_key == Keys.REPLY_FAILED:
        return {"message_id": body["exchange_id"], "error": body["error"]}
    if routing_key == Keys.SESSION_TITLED:
        return {"title": body["title"]}
    return body


def build_stream_router(redis: Redis, session_lists: SessionLists) -> RabbitRouter:
    router = RabbitRouter()

    @router.subscriber(topology.GATEWAY_STREAM, exchange=topology.EVENTS)
    async def on_stream_event(body: dict) -> None:
        routing_key = current_delivery().routing_key or ""
        name = EVENT_NAMES.get(routing_key)
        if name is None or "session_id" not in body:
            return
        if routing_key in LIST_CHANGES and body.get("user_id") is not None:
            # Before the stream: a client that saw the event must not list the session as it was.
            await session_lists.changed(int(body["user_id"]))
        key = stream_key(int(body["session_id"]))
        data = json.dumps(shape(routing_key, body), ensure_ascii=False)
        fields = {"event": name, "data": data, "user_id": str(body.get("user_id", ""))}
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.expire(key, STREAM_TTL_SECONDS)
            await pipe.execute()

    return router


async def session_events(redis: Redis, session_id: int, user_id: int, last_event_id: str | None) -> AsyncIterator[dict]:
    """SSE events for one session, from after `last_event_id` (or from now)."""
    key = stream_key(session_id)
    cursor = last_event_id or "$"
    if cursor == "$":
        # Resolve "$" once, so events that arrive between two reads are not skipped.
        latest = await redis.xrevrange(key, count=1)
        cursor = latest[0][0] if latest else "0-0"
    while True:
        batches = await redis.xread({key: cursor}, block=BLOCK_MS, count=100)
        for _, entries in batches or []:
            for entry_id, fields in entries:
                cursor = entry_id
                if fields.get("user_id") not in ("", str(user_id)):
                    continue
                yield {"id": entry_id, "event": fields["event"], "data": fields["data"]}
