"""SQLite off the event loop (shared.sqlite_thread): every statement runs on its connection's own
thread, so a slow query never stops the loop; writers of this process take turns before SQLite's lock,
a lock held by another process is waited for without stopping the loop, and a lock held too long ends
in the usual "database is locked"."""

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import OperationalError

from shared import sqlite_thread
from shared.db import make_engine

metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("text", String))


@pytest.fixture
async def engine(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/thread.db")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def _count(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(notes))).scalar_one()


async def test_statements_run_off_the_loops_thread_and_read_back_their_rows(engine):
    async with engine.begin() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_thread.ThreadConnection)
        await conn.execute(insert(notes), [{"text": "a"}, {"text": "b"}, {"text": "c"}])
    async with engine.connect() as conn:
        rows = (await conn.execute(select(notes.c.text).order_by(notes.c.id))).scalars().all()
        first = (await conn.execute(select(notes.c.text).order_by(notes.c.id))).first()
        none = (await conn.execute(select(notes.c.text).where(notes.c.id < 0))).first()
    assert rows == ["a", "b", "c"] and first == ("a",) and none is None


async def test_a_slow_query_does_not_stop_the_event_loop(engine):
    """The query's own SQL function waits until a coroutine of the same loop has run: it can only see
    that happen if the loop kept going while the query ran. On the loop's thread it would wait in vain
    (and the ticker would start only after the query returned)."""
    loop_ran = threading.Event()
    query_threads: list[str] = []

    def wait_for_the_loop(_: object) -> int:
        query_threads.append(threading.current_thread().name)
        return int(loop_ran.wait(5))  # bounded: a blocked loop fails the test, it does not hang it

    async def ticker() -> None:
        await asyncio.sleep(0)
        loop_ran.set()

    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        raw.driver_connection._connection.create_function("wait_for_the_loop", 1, wait_for_the_loop)
        query = asyncio.ensure_future(conn.execute(text("SELECT wait_for_the_loop(1)")))
        ticking = asyncio.ensure_future(ticker())
        saw_the_loop = (await query).scalar_one()
        await ticking
    assert saw_the_loop == 1, "the event loop was blocked while the query ran"
    assert query_threads and query_threads[0] != threading.current_thread().name


async def test_writers_of_this_process_take_turns_without_failing(engine):
    holder_has_lock = asyncio.Event()
    order: list[str] = []

    async def holder() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(notes).values(text="first"))  # BEGIN IMMEDIATE: the lock is ours
            holder_has_lock.set()
            await asyncio.sleep(0.3)  # e.g. a network call inside the transaction
            order.append("holder committed")

    async def second_writer() -> None:
        await holder_has_lock.wait()
        async with engine.begin() as conn:
            await conn.execute(insert(notes).values(text="second"))
            order.append("second wrote")

    await asyncio.wait_for(asyncio.gather(holder(), second_writer()), 10)
    assert order == ["holder committed", "second wrote"]
    assert await _count(engine) == 2


async def test_a_failed_write_lets_the_next_writer_in(engine):
    async with engine.begin() as conn:
        await conn.execute(insert(notes).values(id=1, text="one"))
    with pytest.raises(Exception, match="UNIQUE"):
        async with engine.begin() as conn:
            await conn.execute(insert(notes).values(id=1, text="again"))
    async with engine.begin() as conn:  # the gate was left when that transaction rolled back
        await asyncio.wait_for(conn.execute(insert(notes).values(id=2, text="two")), 5)
    assert await _count(engine) == 2


async def test_a_lock_held_by_another_process_is_waited_for_without_stopping_the_loop(engine, tmp_path):
    other = sqlite3.connect(f"{tmp_path}/thread.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.4, other.commit).start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    running = asyncio.create_task(ticker())
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(notes).values(text="after the other process"))
    finally:
        running.cancel()
    assert ticks >= 3  # the loop served other work while the write waited
    assert await _count(engine) == 1
    other.close()


async def test_a_lock_never_released_fails_after_the_wait_limit(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_thread, "LOCK_WAIT_SECONDS", 0.2)
    other = sqlite3.connect(f"{tmp_path}/thread.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with engine.begin() as conn:
                await conn.execute(insert(notes).values(text="never"))
    finally:
        other.rollback()
        other.close()
    assert await _count(engine) == 0
    async with engine.begin() as conn:  # and the next writer of this process is not stuck behind it
        await asyncio.wait_for(conn.execute(insert(notes).values(text="later")), 5)
    assert await _count(engine) == 1


async def test_a_connection_closed_inside_a_write_lets_the_next_writer_in(engine):
    async with engine.connect() as conn:
        await conn.execute(insert(notes).values(text="never committed"))  # the gate is this connection's
        raw = await conn.get_raw_connection()
        await raw.driver_connection.close()  # e.g. the pool throwing away a broken connection
        await conn.invalidate()
    async with engine.begin() as conn:
        await asyncio.wait_for(conn.execute(insert(notes).values(text="next")), 5)
    assert await _count(engine) == 1


async def test_sqlalchemys_aiosqlite_adapter_still_drives_the_thread_connection(tmp_path):
    """`ThreadConnection` stands in for aiosqlite's connection behind SQLAlchemy's aiosqlite adapter,
    which reads the driver's private `_connection` (commit and rollback are skipped when it is None,
    `get_driver_connection` returns it). pyproject.toml pins SQLAlchemy below the next minor release;
    when an upgrade changes what the adapter reaches for, this test says so before anything ships."""
    from sqlalchemy.dialects.sqlite import aiosqlite as adapter_module

    hint = ("SQLAlchemy's aiosqlite adapter no longer drives shared.sqlite_thread.ThreadConnection the "
            "way it did (it reads the driver connection's private `_connection`); read "
            f"{adapter_module.__file__} and adapt ThreadConnection before upgrading SQLAlchemy")
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/adapter.db")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, sqlite_thread.ThreadConnection), hint
            await conn.execute(insert(notes).values(text="kept"))
        async with engine.connect() as conn:
            await conn.execute(insert(notes).values(text="rolled back"))
            await conn.rollback()
        async with engine.connect() as conn:
            texts = (await conn.execute(select(notes.c.text))).scalars().all()
    except AttributeError as exc:
        pytest.fail(f"{hint}: {exc!r}")
    finally:
        await engine.dispose()
    assert texts == ["kept"], f"{hint}: commit or rollback did not reach SQLite ({texts})"
