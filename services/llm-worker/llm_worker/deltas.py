"""Publishes a reply's text deltas in order, batching whatever arrives while a publish is in flight.

The first delta goes out at once (time to first token); under load, tiny deltas merge into fewer
messages instead of queueing one broker round trip each.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from shared.contracts.llm import ReplyDelta

log = logging.getLogger(__name__)


class DeltaStream:
    def __init__(self, publish: Callable[[ReplyDelta], Awaitable[None]], *, exchange_id: UUID,
                 session_id: int, user_id: int, attempt: int) -> None:
        self._publish = publish
        self._ids = {"exchange_id": exchange_id, "session_id": session_id, "user_id": user_id}
        self._attempt = attempt
        self._pending: list[str] = []
        self._sender: asyncio.Task[None] | None = None
        self.seq = 0

    def add(self, text: str) -> None:
        if not text:
            return
        self._pending.append(text)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            event = ReplyDelta(**self._ids, seq=self.seq, attempt=self._attempt, delta=text)
            self.seq += 1
            try:
                await self._publish(event)
            except Exception as exc:  # noqa: BLE001 - a lost delta is cosmetic: the completion has all the text
                log.warning("reply delta %s/%d not published: %r", self._ids["exchange_id"], event.seq, exc)

    async def close(self) -> None:
        """Wait until every delta added so far is published."""
        while self._sender is not None and not self._sender.done():
            await self._sender
