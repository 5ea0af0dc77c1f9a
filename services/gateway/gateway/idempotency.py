"""`Idempotency-Key` on send (api.md §3.5): a repeat with the same key and body returns the first
answer and stores nothing new; the same key with another body is refused. Scoped per user, kept 24 h.

A key names one request of its user: the same key on another route or another session is another
request, refused like another body (422), never a second message. So the Redis key is the user's
key alone, and the record remembers the scope (route and session) it was first used in."""

import hashlib
import json
import logging
from typing import Any

from redis.asyncio import Redis

from shared import metrics
from shared.errors import Conflict, ValidationFailed

log = logging.getLogger(__name__)
TTL_SECONDS = 24 * 3600
# A claim whose request never finished (its gateway died, or Redis failed at `finish`/`abandon`)
# frees itself after this long rather than answering 409 for a day. Longer than any request lasts.
PENDING_TTL_SECONDS = 120
PENDING = "pending"
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(Exception):
    """Same key, different body: 422 `idempotency_key_reused`."""


def check_key(key: str | None) -> str | None:
    if key is not None and (len(key) > MAX_KEY_LENGTH or not key.strip()):
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 characters.",
            fields={"Idempotency-Key": ["Must be 1 to 255 characters."]},
        )
    return key


class IdempotencyStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def _key(user_id: int, scope: str, key: str) -> str:  # noqa: ARG004 - the scope lives in the record
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"mobix:idem:{user_id}:{digest}"

    @staticmethod
    def fingerprint(body: Any) -> str:
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    async def begin(self, user_id: int, scope: str, key: str, fingerprint: str) -> dict | None:
        """Claim the key. Returns the stored answer for a completed repeat, None to proceed."""
        redis_key = self._key(user_id, scope, key)
        claimed = await self.redis.set(
            redis_key, json.dumps({"state": PENDING, "scope": scope, "fp": fingerprint}), nx=True, ex=PENDING_TTL_SECONDS
        )
        if claimed:
            return None
        record = json.loads(await self.redis.get(redis_key) or "{}")
        if record.get("scope") != scope or record.get("fp") != fingerprint:
            raise IdempotencyKeyReused()
        if record.get("state") == PENDING:
            raise Conflict("A request with this Idempotency-Key is still being processed.", code="request_in_progress")
        return record

    async def finish(self, user_id: int, scope: str, key: str, fingerprint: str, status: int, body: Any, headers: dict) -> None:
        """Record the answer. Runs after the commit, so best effort: a failure is logged and counted,
        never turned into an error answer for stored work (architecture §4)."""
        record = {"state": "done", "scope": scope, "fp": fingerprint, "status": status, "body": body, "headers": headers}
        try:
            await self.redis.set(self._key(user_id, scope, key), json.dumps(record), ex=TTL_SECONDS)
        except Exception as exc:  # noqa: BLE001
            metrics.AFTER_COMMIT_FAILURES.labels("idempotency_finish").inc()
            log.warning("could not record the answer of an Idempotency-Key (%r)", exc)

    async def abandon(self, user_id: int, scope: str, key: str) -> None:
        """A failed request frees its key so the client can retry with it (best effort: the claim
        also ends with its short TTL)."""
        try:
            await self.redis.delete(self._key(user_id, scope, key))
        except Exception as exc:  # noqa: BLE001
            log.warning("could not free an Idempotency-Key (%r); it frees itself in %ss", exc, PENDING_TTL_SECONDS)
