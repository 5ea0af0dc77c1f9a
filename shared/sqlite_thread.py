"""SQLite behind the async surface SQLAlchemy's aiosqlite dialect expects (passed as its
`async_creator`), each connection served by a thread of its own, one hand-off per statement.

No statement runs on the event loop's thread: a slow query (a big scan, a checkpoint, a disk that
stalls) would otherwise freeze every stream, heartbeat and consumer of the service for as long as
it runs. aiosqlite also keeps SQLite off the loop but makes four trips to its thread per statement
(SQLAlchemy opens a cursor, executes, fetches, closes); here the whole statement — execute and,
for a query, fetching every row — is one trip, and the cursor's other calls read what that trip
brought back. docs/decisions.md ("SQLite off the event loop") has the figures.

Locks:
- SQLite's own busy wait is off (timeout 0): a statement that finds the database locked is retried
  after an `asyncio.sleep`, never waiting in SQLite, so a connection's thread is never parked on a
  lock and the wait is bounded by the request's deadline (shared.deadlines).
- Retrying is sound because writes take the lock up front: every transaction opens with
  `BEGIN IMMEDIATE` right before its first write, so a locked database fails that BEGIN (nothing
  started, safe to repeat), never a statement in the middle of a transaction.
- WAL mode (see shared.db) lets readers go on while one connection writes.
"""

import asyncio
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Self, TypeVar

from shared import deadlines

T = TypeVar("T")
LOCK_WAIT_SECONDS = 30.0  # as long as a writer may wait for another to finish, like busy_timeout
_FIRST_PAUSE, _LONGEST_PAUSE = 0.0005, 0.02
_LOCK_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _locked(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)  # possibly extended: the low byte is the family
    return (code is not None and code & 0xFF in _LOCK_CODES) or "database is locked" in str(error)


class _WriterGate:
    """The writers of this process to one database file take turns here, in order, before SQLite's
    own lock: a writer that meets another of this process waits for it without trips to its thread
    that fail "database is locked" and sleeps that guess how long to wait. The writer is let in
    once the holder commits or rolls back; a lock held by another process is still met (and waited
    for) at SQLite's BEGIN IMMEDIATE."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()

    async def enter(self) -> None:
        left = deadlines.remaining()
        wait = LOCK_WAIT_SECONDS if left is None else max(0.0, min(left, LOCK_WAIT_SECONDS))
        try:
            async with asyncio.timeout(wait):  # not wait_for, which can lose a cancel on Python 3.11
                await self._lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked (by another transaction of this process)") from None

    def leave(self) -> None:
        self._lock.release()

    def leave_from_any_thread(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._lock.release)
        except RuntimeError:  # the loop is closed, and its lock with it
            pass


# By loop and file: asyncio's lock belongs to the loop that first waits on it (tests run many loops).
_GATES: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _WriterGate]]" = weakref.WeakKeyDictionary()
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _gate(path: str) -> _WriterGate:
    return _GATES.setdefault(asyncio.get_running_loop(), {}).setdefault(path, _WriterGate())


def _settle(future: asyncio.Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # cancelled meanwhile (the awaiting request gave up)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _Thread:
    """The one thread a connection's statements run on (a SQLite connection serves one statement at
    a time; one thread also keeps them in order). A plain queue and `call_soon_threadsafe` cost about
    two thirds of an executor's hand-off (~26 against ~41 µs of CPU a round trip here)."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[asyncio.Future[Any], Callable[..., Any], tuple] | None] = queue.SimpleQueue()
        # Nothing is queued after the stop: it would wait forever for a thread that is gone.
        self._stopping = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._serve, name="sqlite", daemon=True).start()

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            future, call, args = item
            try:
                result, error = call(*args), None
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                result, error = None, exc
            try:
                future.get_loop().call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        future = asyncio.get_running_loop().create_future()
        with self._stopping:
            if self._stopped:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            self._calls.put((future, call, args))
        return await future

    async def until_unlocked(self, call: Callable[..., T], *args: Any) -> T:
        deadline, pause = None, _FIRST_PAUSE
        while True:
            try:
                return await self.run(call, *args)
            except sqlite3.OperationalError as error:
                if not _locked(error):
                    raise
                now = time.monotonic()
                if deadline is None:  # no longer than the request being served still waits (if any)
                    left = deadlines.remaining()
                    deadline = now + (LOCK_WAIT_SECONDS if left is None else max(0.0, min(left, LOCK_WAIT_SECONDS)))
                if now >= deadline:
                    raise
            await asyncio.sleep(pause)  # another process holds the lock: let it finish
            pause = min(pause * 2, _LONGEST_PAUSE)

    def stop(self) -> None:
        with self._stopping:
            if not self._stopped:
                self._stopped = True
                self._calls.put(None)  # served after everything queued before it


def _execute(cursor: sqlite3.Cursor, sql: str, parameters: Any) -> list[Any] | None:
    """Runs on the connection's thread: the statement and, for a query, all its rows."""
    cursor.execute(sql, parameters)
    return cursor.fetchall() if cursor.description is not None else None


class ThreadCursor:
    """A cursor whose `execute` is the one trip to the connection's thread; rows are then read
    from memory (SQLAlchemy's adapter buffers them all anyway)."""

    def __init__(self, connection: "ThreadConnection", cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._thread = connection._thread
        self._cursor = cursor
        self._rows: list[Any] = []
        self._next = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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

    async def execute(self, sql: str, parameters: Any = ()) -> "ThreadCursor":
        await self._connection.before(sql)
        try:
            rows = await self._thread.until_unlocked(_execute, self._cursor, sql, parameters)
        finally:
            self._connection.after()
        self._rows, self._next = rows or [], 0
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> "ThreadCursor":
        await self._connection.before(sql)
        try:
            await self._thread.until_unlocked(self._cursor.executemany, sql, list(seq_of_parameters))
        finally:
            self._connection.after()
        self._rows, self._next = [], 0
        return self

    def _take(self, count: int) -> list[Any]:
        taken = self._rows[self._next:self._next + count]
        self._next += len(taken)
        return taken

    async def fetchone(self) -> Any:
        taken = self._take(1)
        return taken[0] if taken else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._take(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._take(len(self._rows))

    async def close(self) -> None:
        # Nothing is pending on a cursor whose rows were all fetched: closing it is cheap and
        # safe from the loop's thread (the connection is opened with check_same_thread=False).
        self._rows = []
        self._cursor.close()


class ThreadConnection:
    def __init__(self, connection: sqlite3.Connection, thread: _Thread, path: str) -> None:
        self._connection = connection  # the dialect checks this attribute before commit/rollback
        self._thread = thread
        self._path = path
        self._gate: _WriterGate | None = None  # held from the first write to commit or rollback

    def cursor(self) -> ThreadCursor:
        return ThreadCursor(self, self._connection.cursor())

    async def before(self, sql: str) -> None:
        """A write that will open the transaction (sqlite3 begins it, IMMEDIATE, right before the
        first INSERT/UPDATE/DELETE) first takes this process's turn for the file."""
        if self._gate is None and not self._connection.in_transaction and sql.lstrip()[:7].upper().startswith(_WRITES):
            gate = _gate(self._path)
            await gate.enter()
            self._gate = gate

    def after(self) -> None:
        """Leaves the gate once no transaction is open (it ended, or its opening statement failed)."""
        if self._gate is not None and not self._connection.in_transaction:
            self._gate, gate = None, self._gate
            gate.leave()

    def _abandon_gate(self) -> None:  # the connection is closed: its transaction ended with it
        if self._gate is not None:
            self._gate, gate = None, self._gate
            gate.leave_from_any_thread()

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    async def commit(self) -> None:
        try:
            await self._thread.until_unlocked(self._connection.commit)
        finally:
            self.after()

    async def rollback(self) -> None:
        try:
            await self._thread.run(self._connection.rollback)
        finally:
            self.after()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._connection.create_function(*args, **kwargs)

    async def close(self) -> None:
        try:
            await self._thread.run(self._connection.close)
        finally:
            self._thread.stop()
            self._abandon_gate()

    def stop(self) -> None:  # the pool's forced close, possibly from another thread
        try:
            self._connection.close()
        finally:
            self._thread.stop()
            self._abandon_gate()


def _open(path: str) -> sqlite3.Connection:
    # timeout=0: never wait inside SQLite (see above).
    return sqlite3.connect(path, timeout=0, isolation_level="IMMEDIATE", check_same_thread=False)


async def connect(path: str) -> ThreadConnection:
    thread = _Thread()
    try:
        return ThreadConnection(await thread.until_unlocked(_open, path), thread, path)
    except BaseException:
        thread.stop()
        raise
