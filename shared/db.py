"""Async database engine and session factories (SQLite by default, PostgreSQL in production)."""

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import deadlines, sqlite_thread

SessionFactory = async_sessionmaker[AsyncSession]
# SET LOCAL takes no parameters; set_config(…, true) is the same setting for this transaction only.
_STATEMENT_TIMEOUT = text("SELECT set_config('statement_timeout', :ms, true)")


def make_engine(url: str) -> AsyncEngine:
    # `create_async_engine` looked up on its module at each call: where tracing is on, OpenTelemetry's
    # SQLAlchemy instrumentation has wrapped it there (shared.tracing.instrument_clients).
    create_async_engine = sqlalchemy_asyncio.create_async_engine
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Each connection's statements run on a thread of its own, one hand-off each
        # (shared.sqlite_thread); a fixed pool, as a connection costs the pragmas to open.
        connect = functools.partial(sqlite_thread.connect, parsed.database)
        engine = create_async_engine(url, async_creator=connect, pool_size=20, max_overflow=0)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=20)
    event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_connection, _record, _proxy) -> None:
    """Swaps a pooled connection the server has closed (a restart, an idle timeout) for a new one.

    Instead of `pool_pre_ping`, which on asyncpg is three round trips per checkout (BEGIN, a query,
    ROLLBACK): a fifth of the database time of a send. asyncpg reads its socket all along, so a
    connection the server ended is already marked closed; checking that costs no round trip
    (tests/shared/test_db.py restarts a server under a pool)."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this connection")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers work while one writer commits. No busy_timeout: a writer that finds the
    # database locked waits in the event loop, not inside SQLite (shared.sqlite_thread).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any error.

    Inside an RPC with a deadline (shared.deadlines) no statement outlasts it and nothing commits
    past it: an error answer then means nothing was stored."""
    async with factory() as session, session.begin():
        left = deadlines.remaining()
        if left is not None:
            deadlines.check_can_commit()
            if session.bind.dialect.name == "postgresql":  # a lock wait ends with the deadline
                # A bound parameter: one prepared statement, not a new one per distinct timeout.
                await (await session.connection()).execute(_STATEMENT_TIMEOUT, {"ms": str(max(1, int(left * 1000)))})
        yield session
        if left is not None:
            deadlines.check_can_commit()


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for work of one statement, which needs no transaction around it. On PostgreSQL each
    statement commits on its own: one round trip instead of three (BEGIN, the statement, COMMIT or
    ROLLBACK). SQLite has no round trips to save: a transaction, committed at the end."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")
    else:
        async with engine.begin() as conn:
            yield conn


async def execute_alone(factory: SessionFactory, statement, params: dict | None = None) -> None:
    """Runs one statement on its own (`autocommit`), with the engine of a session factory."""
    async with autocommit(factory.kw["bind"]) as conn:
        await conn.execute(statement, params or {})


async def create_schema(engine: AsyncEngine, metadata) -> None:
    """Create missing tables (development default; Alembic migrations in production)."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
