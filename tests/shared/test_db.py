"""The PostgreSQL engine (shared.db): a pooled connection the server closed is replaced at checkout
without a ping per checkout, and a deadline's statement timeout is one prepared statement."""

import asyncio
import time

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from shared import deadlines
from shared.db import autocommit, execute_alone, make_engine, make_session_factory, transaction

pytestmark = pytest.mark.servers


async def _backend_pid(engine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(text("SELECT pg_backend_pid()"))


async def _setting(session) -> str:
    return (await (await session.connection()).execute(text("SHOW statement_timeout"))).scalar()


async def test_a_connection_the_server_closed_is_replaced_at_checkout(postgres_url):
    engine = make_engine(postgres_url)
    admin = await asyncpg.connect(make_url(postgres_url).set(drivername="postgresql").render_as_string(False))
    try:
        pid = await _backend_pid(engine)  # now idle in the pool
        assert await _backend_pid(engine) == pid  # the pool hands the same connection out again
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)  # as a server restart does
        await asyncio.sleep(0.3)  # the server's goodbye reaches the idle connection's socket
        assert await _backend_pid(engine) != pid  # no error: a new connection took its place
    finally:
        await admin.close()
        await engine.dispose()


async def test_the_deadline_sets_a_statement_timeout_for_its_transaction_only(postgres_url):
    engine = make_engine(postgres_url)
    factory = make_session_factory(engine)
    try:
        token = deadlines.deadline_var.set(time.time() + 2.0)
        try:
            async with transaction(factory) as s:
                inside = await _setting(s)
        finally:
            deadlines.deadline_var.reset(token)
        async with transaction(factory) as s:
            after = await _setting(s)
    finally:
        await engine.dispose()
    assert inside in {f"{ms}ms" for ms in range(1_000, 2_001)} | {"2s"}, inside  # what was left of 2 s
    assert after == "0", after


async def test_autocommit_runs_each_statement_alone_and_leaves_the_pool_as_it_was(postgres_url):
    # now() is the start of the transaction: two statements in one transaction see the same, two
    # statements each alone (no BEGIN around them: one round trip each) see different ones.
    engine = make_engine(postgres_url)
    try:
        async with autocommit(engine) as conn:
            first = await conn.scalar(text("SELECT now()"))
            await asyncio.sleep(0.01)
            second = await conn.scalar(text("SELECT now()"))
        async with engine.connect() as conn:  # the same pooled connection, in a transaction again
            third = await conn.scalar(text("SELECT now()"))
            await asyncio.sleep(0.01)
            fourth = await conn.scalar(text("SELECT now()"))
    finally:
        await engine.dispose()
    assert first != second
    assert third == fourth


async def test_a_statement_executed_alone_is_committed(postgres_url):
    engine = make_engine(postgres_url)
    factory = make_session_factory(engine)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS executed_alone"))
            await conn.execute(text("CREATE TABLE executed_alone (n int)"))
        await execute_alone(factory, text("INSERT INTO executed_alone VALUES (:n)"), {"n": 7})
        async with engine.begin() as conn:
            assert await conn.scalar(text("SELECT sum(n) FROM executed_alone")) == 7
            await conn.execute(text("DROP TABLE executed_alone"))
    finally:
        await engine.dispose()
