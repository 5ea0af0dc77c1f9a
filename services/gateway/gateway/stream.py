"""Reply streaming for clients (api.md §5): Server-Sent Events backed by a Redis stream per session.

One gateway replica at a time consumes `gateway.stream_events` (single active consumer keeps deltas in
order) and appends each event to `mobix:stream:<session>`; every replica serves SSE by reading that
stream, so a client may connect to any replica and resume with `Last-Event-ID`.

A stream stays open as long as its client does: it starts with a `retry:` line, the response sends a
`: ping` comment on a timer, and the blocking reads use a Redis client of their own whose socket
timeout outlasts the block (on the shared client a 15 s block outlived its 5 s socket timeout and
killed every idle stream). It ends when the session is deleted (an end marker in the Redis stream
reaches every replica) or when the login is gone (checked between reads).

A client that connects without `Last-Event-ID` while a reply is queued or streaming starts at that
reply's `reply.queued` entry, so opening the stream just after `send` misses no delta.
"""

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from faststream.rabbit import RabbitRouter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.session_lists import SessionLists
from shared import topology
from shared.cache import make_redis
from shared.consumers import current_delivery
from shared.topology import Keys

log = logging.getLogger(__name__)
STREAM_MAXLEN = 2_000
STREAM_TTL_SECONDS = 3_600
# One blocking read; between two, the stream checks that its login is still alive.
BLOCK_MS = 5_000
# The socket timeout of the blocking reads: longer than a block, or every idle read would fail.
READ_SOCKET_TIMEOUT_SECONDS = BLOCK_MS / 1000 + 10
# Connections of the blocking-read client: each open stream holds one while it waits.
READ_CONNECTIONS = 5_000
# How long a client's EventSource waits before reconnecting (sent first, as `retry:`).
RETRY_MS = 3_000
SCAN_PAGE = 500
END_EVENT = "stream.end"  # internal: the session was deleted; never sent to clients

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


def make_stream_redis(url: str) -> Redis:
    """The client for blocking stream reads, apart from the shared one: its socket timeout outlasts a
    block, and streams waiting on it never take the connections every other request needs."""
    return make_redis(url, max_connections=READ_CONNECTIONS, socket_timeout=READ_SOCKET_TIMEOUT_SECONDS)


async def end_streams(redis: Redis, session_id: int) -> None:
    """Ends every open stream of a deleted session, on every replica."""
    key = stream_key(session_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xadd(key, {"event": END_EVENT, "data": "", "user_id": ""}, maxlen=STREAM_MAXLEN, approximate=True)
        pipe.expire(key, STREAM_TTL_SECONDS)
        await pipe.execute()


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


async def session_events(
    redis: Redis, session_id: int, user_id: int, last_event_id: str | None,
    *, login_alive: Callable[[], Awaitable[bool]],
) -> AsyncIterator[dict]:
    """SSE events for one session: a `retry:` line, then the events after `last_event_id` (without
    one: from the start of the reply in progress, else from now), until the session or login ends."""
    yield {"retry": RETRY_MS}
    key = stream_key(session_id)
    try:
        # Resolved once, so events that arrive between two reads are not skipped.
        cursor = last_event_id or await start_cursor(redis, key)
        checked = time.monotonic()
        while True:
            batches = await redis.xread({key: cursor}, block=BLOCK_MS, count=100)
            for _, entries in batches or []:
                for entry_id, fields in entries:
                    cursor = entry_id
                    if fields.get("event") == END_EVENT:
                        return
                    if fields.get("user_id") not in ("", str(user_id)):
                        continue
                    yield {"id": entry_id, "event": fields["event"], "data": fields["data"]}
            if time.monotonic() - checked >= BLOCK_MS / 1000:
                if not await login_alive():
                    return
                checked = time.monotonic()
    except RedisError as exc:
        # The client reconnects after `retry` with its Last-Event-ID and misses nothing.
        log.warning("stream of session %s ended by a Redis error: %s", session_id, exc)


async def start_cursor(redis: Redis, key: str) -> str:
    """Where a client without Last-Event-ID starts: just before the `reply.queued` of a reply still in
    progress, else after the newest entry."""
    newest: str | None = None
    upper = "+"
    while True:
        entries = await redis.xrevrange(key, max=upper, min="-", count=SCAN_PAGE)
        for entry_id, fields in entries:
            newest = newest or entry_id
            event = fields.get("event")
            if event in ("reply.completed", "reply.failed", END_EVENT):
                return newest
            if event == "reply.queued":
                return _just_before(entry_id)
        if len(entries) < SCAN_PAGE:
            return newest or "0-0"
        upper = "(" + entries[-1][0]


def _just_before(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    if int(seq) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-{2**64 - 1}" if int(ms) > 0 else "0-0"
