"""Reply streaming for clients (api.md §5): Server-Sent Events backed by a Redis stream per session.

The llm-worker writes a reply's text deltas to `mobix:stream:<session>` itself (coalesced by time, never
over the broker). One gateway replica at a time consumes `gateway.stream_events` (single active
consumer keeps a session's events in order) and appends the other events (queued, completed, failed,
title) to the same stream; every replica serves SSE by reading it, so a client may connect to any
replica and resume with `Last-Event-ID`. A reply's deltas come before its `reply.completed`: the worker
writes its last delta before it publishes the completion the gateway's entry follows from.

A stream stays open as long as its client does: it starts with a `retry:` line, the response sends a
`: ping` comment on a timer, and the blocking reads use a Redis client of their own whose socket
timeout outlasts the block (on the shared client a 15 s block outlived its 5 s socket timeout and
killed every idle stream). It ends when the session is deleted (an end marker in the Redis stream
reaches every replica) or when the login is gone (checked between reads).

A client that connects without `Last-Event-ID` while a reply is queued or streaming starts at that
reply's first entry (`reply.queued`, or a delta the worker wrote before it), so opening the stream just
after `send` misses no delta.

A command redelivered after a worker died mid-reply streams again with `attempt` + 1 and the whole
text; a client starts the reply's text over on a higher attempt, and a reader drops any delta of an
attempt older than one it already sent for that reply (a worker cut off from the broker but still
writing must not splice old text into the new attempt).
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
from shared.reply_stream import (
    DELTA_EVENT,
    STREAM_MAXLEN,
    STREAM_TTL_SECONDS,
    append,
    entry,
    stream_key,
)
from shared.topology import Keys

__all__ = ["END_EVENT", "STREAM_MAXLEN", "STREAM_TTL_SECONDS", "end_streams", "session_events",
           "start_cursor", "stream_key"]

log = logging.getLogger(__name__)
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
    Keys.REPLY_STORED: "reply.completed",
    Keys.REPLY_FAILURE_STORED: "reply.failed",  # chat's, after it stored the failure
    Keys.SESSION_TITLED: "session.title",
}


# Events after which chat has changed a session of the user's list (a reply moves `updated_at`).
LIST_CHANGES = frozenset({Keys.REPLY_STORED, Keys.SESSION_TITLED})


def make_stream_redis(url: str) -> Redis:
    """The client for blocking stream reads, apart from the shared one: its socket timeout outlasts a
    block, and streams waiting on it never take the connections every other request needs."""
    return make_redis(url, max_connections=READ_CONNECTIONS, socket_timeout=READ_SOCKET_TIMEOUT_SECONDS)


async def end_streams(redis: Redis, session_id: int) -> None:
    """Ends every open stream of a deleted session, on every replica."""
    await append(redis, session_id, entry(END_EVENT, "", None))


def shape(routing_key: str, body: dict[str, Any]) -> dict[str, Any]:
    if routing_key == Keys.REPLY_QUEUED:
        return {"message_id": body["exchange_id"], "user_message": body["user_message"]}
    if routing_key == Keys.REPLY_STORED:
        message = {k: v for k, v in body["message"].items() if k not in ("reply_status", "reply_error")}
        return message
    if routing_key == Keys.REPLY_FAILURE_STORED:
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
            await session_lists.changed(int(body["user_id"]), int(body["session_id"]))
        await append(redis, int(body["session_id"]), entry(name, shape(routing_key, body), body.get("user_id", "")))

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
        attempts: dict[str, int] = {}  # reply -> the newest attempt whose deltas this reader sent
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
                    if fields.get("event") == DELTA_EVENT and _stale_attempt(attempts, fields["data"]):
                        continue
                    yield {"id": entry_id, "event": fields["event"], "data": fields["data"]}
            if time.monotonic() - checked >= BLOCK_MS / 1000:
                if not await login_alive():
                    return
                checked = time.monotonic()
    except RedisError as exc:
        # The client reconnects after `retry` with its Last-Event-ID and misses nothing.
        log.warning("stream of session %s ended by a Redis error: %s", session_id, exc)


def _stale_attempt(attempts: dict[str, int], data: str) -> bool:
    """True for a delta of an older attempt than one already sent for its reply (then dropped)."""
    try:
        delta = json.loads(data)
        message_id, attempt = str(delta["message_id"]), int(delta.get("attempt", 1))
    except (ValueError, KeyError, TypeError):
        return False
    if attempt < attempts.get(message_id, 0):
        return True
    attempts[message_id] = attempt
    return False


async def start_cursor(redis: Redis, key: str) -> str:
    """Where a client without Last-Event-ID starts: just before the first entry of a reply still in
    progress (its `reply.queued`, or a delta the worker wrote before the gateway appended it), else
    after the newest entry."""
    newest: str | None = None
    first_of_reply: str | None = None  # the oldest entry of the reply in progress seen so far
    upper = "+"
    while True:
        entries = await redis.xrevrange(key, max=upper, min="-", count=SCAN_PAGE)
        for entry_id, fields in entries:
            newest = newest or entry_id
            event = fields.get("event")
            if event in ("reply.completed", "reply.failed", END_EVENT):
                return _just_before(first_of_reply) if first_of_reply else newest
            if event in ("reply.queued", DELTA_EVENT):
                first_of_reply = entry_id  # the gateway may append `reply.queued` after a first delta
        if len(entries) < SCAN_PAGE:
            return _just_before(first_of_reply) if first_of_reply else newest or "0-0"
        upper = "(" + entries[-1][0]


def _just_before(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    if int(seq) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-{2**64 - 1}" if int(ms) > 0 else "0-0"
