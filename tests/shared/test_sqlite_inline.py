"""SQLite on the event loop's thread (shared.sqlite_inline): a writer that meets a held lock waits in
the loop, so the holder can finish, whether it is another coroutine of this process or another process;
the loop keeps running meanwhile, and a lock held too long ends in the usual "database is locked"."""

import asyncio
import sqlite3
import threading
import time

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError

from shared import sqlite_inline
from shared.db import make_engine

metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("text", String))


@pytest.fixture
async def engine(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/inline.db")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def _count(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(notes))).scalar_one()


async def test_statements_run_on_the_loops_own_thread(engine):
    seen = []
    async with engine.begin() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_inline.InlineConnection)
        await conn.execute(insert(notes).values(text="hello"))
        seen.append(threading.get_ident())
    assert seen == [threading.get_ident()] and await _count(engine) == 1


async def test_a_writer_waits_for_a_transaction_of_this_process_that_holds_the_lock(engine):
    holder_has_lock = asyncio.Event()

    async def holder() -> float:
        async with engine.begin() as conn:
            await conn.execute(insert(notes).values(text="first"))  # BEGIN IMMEDIATE: the lock is ours
            holder_has_lock.set()
            await asyncio.sleep(0.3)  # e.g. a network call inside the transaction
        return time.monotonic()

    async def second_writer() -> float:
        await holder_has_lock.wait()
        async with engine.begin() as conn:
            await conn.execute(insert(notes).values(text="second"))
        return time.monotonic()

    # With SQLite's own busy wait on the loop's thread, the holder could never resume: a deadlock.
    released, written = await asyncio.wait_for(asyncio.gather(holder(), second_writer()), 10)
    assert written >= released
    assert await _count(engine) == 2


async def test_a_lock_held_by_another_process_is_waited_for_without_stopping_the_loop(engine, tmp_path):
    other = sqlite3.connect(f"{tmp_path}/inline.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.4, other.commit).start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    running = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(notes).values(text="after the other process"))
    finally:
        running.cancel()
    assert time.monotonic() - started >= 0.35
    assert ticks >= 10  # the loop served other work while the write waited
    assert await _count(engine) == 1
    other.close()


async def test_a_lock_never_released_fails_after_the_wait_limit(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_inline, "LOCK_WAIT_SECONDS", 0.2)
    other = sqlite3.connect(f"{tmp_path}/inline.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with engine.begin() as conn:
                await conn.execute(insert(notes).values(text="never"))
    finally:
        other.rollback()
        other.close()
    assert await _count(engine) == 0


async def test_sqlalchemys_aiosqlite_adapter_still_drives_the_inline_connection(tmp_path):
    """`InlineConnection` stands in for aiosqlite's connection behind SQLAlchemy's aiosqlite adapter,
    which reads the driver's private `_connection` (commit and rollback are skipped when it is None,
    `get_driver_connection` returns it). pyproject.toml pins SQLAlchemy below the next minor release;
    when an upgrade changes what the adapter reaches for, this test says so before anything ships."""
    from sqlalchemy.dialects.sqlite import aiosqlite as adapter_module

    hint = ("SQLAlchemy's aiosqlite adapter no longer drives shared.sqlite_inline.InlineConnection the "
            "way it did (it reads the driver connection's private `_connection`); read "
            f"{adapter_module.__file__} and adapt InlineConnection before upgrading SQLAlchemy")
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/adapter.db")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, sqlite_inline.InlineConnection), hint
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
