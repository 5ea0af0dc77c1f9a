"""`GET /api/chat-sessions/` from a Redis copy of each user's list, kept exact (gateway.read_cache).

The list is the most frequent read of every client and costs chat a joined query per call. Every change
to it passes the gateway: its own routes (create, update, delete, sends, which move `updated_at`),
staff catalog edits (the list embeds chatbots and models: the whole scope is invalidated), and chat's
events it consumes for the streams (a stored reply, a title). Each invalidates the copy before the
route answers or the event reaches a stream, so a client never reads a list older than what it saw.
"""

import json
import logging
from collections.abc import Awaitable
from typing import TypeVar

from gateway.read_cache import VersionedCache
from shared import metrics
from shared.contracts import chat as c
from shared.rpc import RpcClient

log = logging.getLogger(__name__)
T = TypeVar("T")
PREFIX = "mobix:gw:sessions:"


class SessionLists:
    def __init__(self, cache: VersionedCache, rpc: RpcClient) -> None:
        self.cache = cache
        self.rpc = rpc

    async def body(self, user_id: int) -> bytes:
        """The user's whole session list as the JSON the route answers."""
        seen = await self.cache.read(user_id) if self.cache.enabled else None
        if seen is not None and seen.data is not None:
            return seen.data.encode()
        page = await self.rpc.call(c.Queries.LIST_SESSIONS, c.ListSessions(user_id=user_id, offset=0, limit=None))
        # Rendered as FastAPI's JSONResponse renders it.
        body = json.dumps(page["items"], ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        if seen is not None:
            await self.cache.fill(user_id, seen, body)
        return body.encode()

    async def changing(self, user_id: int, change: Awaitable[T]) -> T:
        """Run a change to the user's sessions; their copy is dropped whatever the outcome (a timed-out
        call may still have happened). The drop is best effort: once the change committed, its answer
        is the success (architecture §4), and a copy Redis could not drop is gone with Redis or ends
        with its TTL."""
        try:
            return await change
        finally:
            await self.changed(user_id)

    async def changed(self, user_id: int) -> None:
        if self.cache.enabled:
            await _best_effort("session_list_invalidate", self.cache.invalidate(user_id))

    async def catalog_changing(self, change: Awaitable[T]) -> T:
        try:
            return await change
        finally:
            if self.cache.enabled:
                await _best_effort("session_list_invalidate_all", self.cache.invalidate_all())


async def _best_effort(step: str, work: Awaitable[object]) -> None:
    try:
        await work
    except Exception as exc:  # noqa: BLE001 - after a commit nothing may turn the answer into an error
        metrics.AFTER_COMMIT_FAILURES.labels(step).inc()
        log.warning("%s failed after the change (%r); the copy ends with its TTL", step, exc)
