"""SQLite run on the event loop's own thread, behind the async surface SQLAlchemy's aiosqlite
dialect expects (passed as its `async_creator`).

aiosqlite sends every call to a thread of its own, and SQLAlchemy makes four such calls per
statement (open a cursor, execute, fetch, close): about 0.8 ms of thread hand-offs here for a
statement SQLite answers in 20 µs. Run inline, a statement costs what SQLite and SQLAlchemy cost.

What makes running inline safe:
- Nothing ever waits for a lock while holding the loop. SQLite's own busy wait is off (timeout 0);
  a statement that finds the database locked is retried after an `asyncio.sleep`, so the coroutine
  holding the lock can go on and release it.
- Retrying is sound because writes take the lock up front: the driver opens every transaction with
  `BEGIN IMMEDIATE` right before its first write, so a locked database fails that BEGIN (nothing
  started, safe to repeat), never a statement in the middle of a transaction.
- WAL mode (see shared.db) lets readers go on while one connection writes.
The loop does block for the duration of each statement, as it would for any CPU work: fine for the
embedded default's small, indexed queries; production runs PostgreSQL.
"""

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from shared import deadlines

T = TypeVar("T")
LOCK_WAIT_SECONDS = 30.0  # as long as a writer may wait for another to finish, like busy_timeout
_FIRST_PAUSE, _LONGEST_PAUSE = 0.0005, 0.02


_LOCK_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _locked(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)  # possibly extended: the low byte is the family
    return (code is not None and code & 0xFF in _LOCK_CODES) or "database is locked" in str(error)


async def _until_unlocked(call: Callable[..., T], *args: Any) -> T:
    deadline, pause = None, _FIRST_PAUSE
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if not _locked(error):
                raise
            now = time.monotonic()
            if deadline is None:  # no longer than the request being served still waits (if any)
                left = deadlines.remaining()
                deadline = now + (LOCK_WAIT_SECONDS if left is None else max(0.0, min(left, LOCK_WAIT_SECONDS)))
            if now >= deadline:
                raise
        await asyncio.sleep(pause)  # let whoever holds the lock finish
        pause = min(pause * 2, _LONGEST_PAUSE)


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> "InlineCursor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> "InlineCursor":
        await _until_unlocked(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> "InlineCursor":
        await _until_unlocked(self._cursor.executemany, sql, list(seq_of_parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection  # the dialect checks this attribute before commit/rollback

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._connection.cursor())

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    async def commit(self) -> None:
        await _until_unlocked(self._connection.commit)

    async def rollback(self) -> None:
        self._connection.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._connection.create_function(*args, **kwargs)

    async def close(self) -> None:
        self._connection.close()

    def stop(self) -> None:
        self._connection.close()


async def connect(path: str) -> InlineConnection:
    # timeout=0: never wait inside SQLite (see above). Any thread may close it (pool clean-up).
    open_it = functools.partial(sqlite3.connect, path, timeout=0, isolation_level="IMMEDIATE",
                                check_same_thread=False)
    return InlineConnection(await _until_unlocked(open_it))
