"""The Redis stream per session that the gateway's SSE readers follow (api.md §5), written by two
parties: the llm-worker appends a reply's text deltas straight to it (transient: never on the broker),
and the gateway appends the events that come over RabbitMQ (queued, completed, failed, title, end).

One source for the key layout, the cap, the expiry and the entry format both writers use.
"""

import json
from typing import Any

from redis.asyncio import Redis

STREAM_MAXLEN = 2_000
STREAM_TTL_SECONDS = 3_600
DELTA_EVENT = "reply.delta"


def stream_key(session_id: int) -> str:
    return f"mobix:stream:{session_id}"


def entry(event: str, data: dict[str, Any] | str, user_id: int | str | None) -> dict[str, str]:
    """One stream entry: the SSE event name, its JSON data, and the user it belongs to ("" = anyone)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return {"event": event, "data": text, "user_id": "" if user_id is None else str(user_id)}


def delta_data(message_id: Any, delta: str, seq: int, attempt: int) -> dict[str, Any]:
    """The data of a `reply.delta` (api.md §5): `seq` counts within one attempt; a redelivered command
    starts over with `attempt` + 1 and the whole text."""
    return {"message_id": str(message_id), "delta": delta, "seq": seq, "attempt": attempt}


async def append(redis: Redis, session_id: int, fields: dict[str, str]) -> str:
    """Appends one entry (capped, and the stream's expiry renewed); returns its id."""
    key = stream_key(session_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xadd(key, fields, maxlen=STREAM_MAXLEN, approximate=True)
        pipe.expire(key, STREAM_TTL_SECONDS)
        entry_id, _ = await pipe.execute()
    return entry_id
