"""`GET /api/chat-sessions/` from per-row Redis copies of each user's list (gateway.session_rows).

The list is the most frequent read of every client and costs chat a joined query per call. Every change
to it passes the gateway: its own routes (create, update, delete, sends, which move `updated_at`),
staff catalog edits (the list embeds chatbots and models: the whole scope is rebuilt), and chat's
events it consumes for the streams (a stored reply, a title). Each marks its session's row before the
route answers or the event reaches a stream, so a client never reads a list older than what it saw;
the next read re-reads only the rows marked, so a heavy user's list costs the same after a change as
before it.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from gateway.session_rows import SessionRows
from shared import metrics
from shared.contracts import chat as c
from shared.errors import NotFound
from shared.rpc import RpcClient

log = logging.getLogger(__name__)
T = TypeVar("T")
PREFIX = "mobix:gw:sessions:"
# Rows per chat call when a copy is rebuilt whole: each answer stays far below the broker's 64 KiB.
REBUILD_PAGE = 100
# A read that keeps losing the race with changes answers from chat directly after this many tries.
READ_ATTEMPTS = 3


def render(value: Any) -> str:
    """JSON as FastAPI's JSONResponse renders it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class SessionLists:
    def __init__(self, cache: SessionRows, rpc: RpcClient) -> None:
        self.cache = cache
        self.rpc = rpc

    async def body(self, user_id: int) -> bytes:
        """The user's whole session list as the JSON the route answers."""
        if not self.cache.enabled:
            return _joined(render(row) for row in await self._all_rows(user_id))
        for _ in range(READ_ATTEMPTS):
            seen = await self.cache.read(user_id)
            if seen.rows is not None:
                return b"[" + b",".join(seen.rows) + b"]"
            if seen.dirty is not None:
                changed = await self._rows(user_id, seen.dirty)
                await self.cache.patch(user_id, seen, changed)
                continue  # read again: the patch may have lost to a newer change
            rows = await self._all_rows(user_id)
            rendered = [(render(row), row) for row in rows]
            await self.cache.fill(user_id, seen, rendered)
            return _joined(text for text, _ in rendered)
        return _joined(render(row) for row in await self._all_rows(user_id))

    async def _rows(self, user_id: int, session_ids: list[int]) -> dict[int, tuple[str, dict] | None]:
        """The current rows of some sessions (None: no longer listed)."""

        async def one(session_id: int) -> tuple[str, dict] | None:
            try:
                row = await self.rpc.call(c.RpcNames.GET_SESSION, c.SessionQuery(user_id=user_id, session_id=session_id))
            except NotFound:
                return None
            return render(row), row

        found = await asyncio.gather(*(one(session_id) for session_id in session_ids))
        return dict(zip(session_ids, found, strict=True))

    async def _all_rows(self, user_id: int) -> list[dict]:
        """The whole list in keyset pages, newest first."""
        rows: list[dict] = []
        while True:
            last = rows[-1] if rows else None
            query = c.ListSessions(user_id=user_id, limit=REBUILD_PAGE,
                                   before_updated_at=last["updated_at"] if last else None,
                                   before_id=last["id"] if last else None)
            page = (await self.rpc.call(c.RpcNames.LIST_SESSIONS, query))["items"]
            rows += page
            if len(page) < REBUILD_PAGE:
                return rows

    async def changing(self, user_id: int, change: Awaitable[T], session_id: int | None = None) -> T:
        """Run a change to one of the user's sessions (None: to a session not known yet, a create);
        its row is marked whatever the outcome (a timed-out call may still have happened). The mark
        is best effort: once the change committed, its answer is the success (architecture §4), and a
        copy Redis could not mark is gone with Redis or ends with its TTL."""
        try:
            result = await change
        except BaseException:
            await self.changed(user_id, session_id)
            raise
        if session_id is None and isinstance(result, dict) and isinstance(result.get("id"), int):
            session_id = result["id"]  # a created session names itself in the answer
        await self.changed(user_id, session_id)
        return result

    async def changed(self, user_id: int, session_id: int | None = None) -> None:
        if self.cache.enabled:
            await _best_effort("session_list_invalidate", self.cache.touch(user_id, session_id))

    async def catalog_changing(self, change: Awaitable[T]) -> T:
        try:
            return await change
        finally:
            if self.cache.enabled:
                await _best_effort("session_list_invalidate_all", self.cache.touch_all())


def _joined(rows: Any) -> bytes:
    return ("[" + ",".join(rows) + "]").encode()


async def _best_effort(step: str, work: Awaitable[object]) -> None:
    try:
        await work
    except Exception as exc:  # noqa: BLE001 - after a commit nothing may turn the answer into an error
        metrics.AFTER_COMMIT_FAILURES.labels(step).inc()
        log.warning("%s failed after the change (%r); the copy ends with its TTL", step, exc)
