"""A reply's prompt passed by reference: kept in Redis, fetched by the worker (issue 20's bounded broker).

A long conversation's prompt (≈155 KB of turns once a session is long; megabytes with a 1M-token model)
would otherwise ride on every `GenerateReply`, and RabbitMQ holds each message body in memory while it
is queued and in its quorum queue's log. Chat's outbox relay moves a prompt bigger than
`INLINE_PROMPT_BYTES` into Redis (zlib-compressed) just before publishing and sends its key instead;
the worker reads it back. The outbox row keeps the whole command until the broker confirmed it, so a
relay that dies in between only writes the same key again.

The key lives for chat's reply deadline (`reply_stale_after_seconds`): past it chat fails the exchange
anyway. A command whose prompt is gone (expired, Redis lost or flushed) ends as `ReplyFailed` with code
`prompt_unavailable`: chat marks the message failed and frees the session, billing releases the
reservation, and the user can send again.
"""

import base64
import json
import zlib
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

# Commands up to this size carry their prompt; bigger ones pass it by reference. Well below the
# broker's 64 KiB bound (shared.bounds.MAX_BROKER_MESSAGE_BYTES), with room for the other fields.
INLINE_PROMPT_BYTES = 32 * 1024
PREFIX = "mobix:prompt:"
UNAVAILABLE = "prompt_unavailable"


def key_of(exchange_id: UUID | str) -> str:
    return f"{PREFIX}{exchange_id}"


class PromptStore:
    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds

    async def offload(self, command: dict[str, Any], size: int) -> dict[str, Any]:
        """`command` (a GenerateReply as JSON, `size` bytes) with its prompt moved to Redis when big."""
        if size <= INLINE_PROMPT_BYTES or not command.get("messages"):
            return command
        packed = zlib.compress(json.dumps(command["messages"], separators=(",", ":"), ensure_ascii=False).encode(), 6)
        key = key_of(command["exchange_id"])
        # Base64: the services' Redis clients decode replies as text.
        await self.redis.set(key, base64.b64encode(packed).decode(), ex=self.ttl_seconds)
        return {**command, "messages": [], "prompt_ref": key}

    async def fetch(self, ref: str) -> list[dict[str, Any]] | None:
        """The turns stored under `ref`, or None once they are gone."""
        if not ref.startswith(PREFIX):
            return None  # never read a key that is not a prompt's
        packed = await self.redis.get(ref)
        if packed is None:
            return None
        return json.loads(zlib.decompress(base64.b64decode(packed)))
