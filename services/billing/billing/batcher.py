"""Group commit: writes that arrive together share one transaction.

Every admission and every completed reply writes a few rows. Alone, each write pays for its own
transaction (and, on SQLite, its own trip to the database thread and the single write lock); under
load the queued writes are flushed together, so that cost is paid once per batch. A writer's
`run()` returns only after its batch has committed. Jobs must not fail on conflicts (they use
`ON CONFLICT DO NOTHING` and friends): one failing job fails its whole batch.
"""

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]


class WriteBatcher:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = 200) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[tuple[Job, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def run(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        if self._flusher is None or self._flusher.done():
            # A fresh context: the flusher serves many requests, so it must not inherit the deadline
            # of the one that started it (shared.deadlines); the batch's lock waits are its own.
            self._flusher = asyncio.create_task(self._flush(), context=contextvars.Context())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            results: list[Any] = []
            try:
                async with self.engine.begin() as conn:
                    for job, _ in batch:
                        results.append(await job(conn))
            except BaseException as exc:  # the batch rolled back: every writer in it hears why
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
