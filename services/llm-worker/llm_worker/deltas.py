"""Writes a reply's text deltas, in order, coalesced by time, to the session's Redis stream.

The first delta goes out at once (time to first token); after each write, whatever arrives within the
next `interval` is merged into one entry, so a real model's chunk rate (one every ~10 ms) never becomes
the write rate. Deltas are transient (the completion carries the whole text): a failed write is logged
and the reply goes on.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

from shared import reply_stream

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyDelta:
    """One coalesced piece of a reply's text (`seq` 0, 1, 2 … within one attempt)."""

    exchange_id: UUID
    session_id: int
    user_id: int
    seq: int
    attempt: int
    delta: str


class RedisDeltas:
    """Where the worker's deltas go: the session's stream that the gateway's SSE readers follow."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def write(self, delta: ReplyDelta) -> None:
        data = reply_stream.delta_data(delta.exchange_id, delta.delta, delta.seq, delta.attempt)
        await reply_stream.append(self._redis, delta.session_id,
                                  reply_stream.entry(reply_stream.DELTA_EVENT, data, delta.user_id))


class DeltaStream:
    def __init__(self, write: Callable[[ReplyDelta], Awaitable[None]], *, exchange_id: UUID,
                 session_id: int, user_id: int, attempt: int, interval: float) -> None:
        self._write = write
        self._ids = {"exchange_id": exchange_id, "session_id": session_id, "user_id": user_id}
        self._attempt = attempt
        self._interval = interval
        self._pending: list[str] = []
        self._sender: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.seq = 0
        self.writes = 0

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
            delta = ReplyDelta(**self._ids, seq=self.seq, attempt=self._attempt, delta=text)
            self.seq += 1
            try:
                await self._write(delta)
                self.writes += 1
            except Exception as exc:  # noqa: BLE001 - a lost delta is cosmetic: the completion has all the text
                log.warning("reply delta %s/%d not written: %r", self._ids["exchange_id"], delta.seq, exc)
            if self._closing.is_set():
                continue  # closing: the rest goes out at once
            # Collect what the model sends meanwhile; close() cuts the pause short.
            try:  # asyncio.timeout: a cancel never gets lost in it (wait_for can lose one on Python 3.11)
                async with asyncio.timeout(self._interval):
                    await self._closing.wait()
            except TimeoutError:
                pass

    async def close(self) -> None:
        """Write every delta added so far, without waiting out the pause; returns once they are written
        (the completion that ends them is published only after)."""
        self._closing.set()
        while self._sender is not None and not self._sender.done():
            await self._sender
        if self._pending:  # added after the sender's last look
            await self._drain()
