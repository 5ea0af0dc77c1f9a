"""Group commit: concurrent writes share transactions, and a failing batch fails only its writers."""

import asyncio

import pytest
from billing.batcher import WriteBatcher
from sqlalchemy import event, text

from shared.db import make_engine


@pytest.fixture
async def engine(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/batch.db")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE item (n INTEGER PRIMARY KEY)"))
    yield engine
    await engine.dispose()


async def test_concurrent_writes_share_transactions(engine):
    commits = []
    event.listen(engine.sync_engine, "commit", lambda conn: commits.append(1))
    batcher = WriteBatcher(engine)

    async def write(n):
        await conn_insert(batcher, n)
        return n

    assert await asyncio.gather(*(write(n) for n in range(100))) == list(range(100))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM item"))).scalar() == 100
    assert 1 <= len(commits) < 10


async def conn_insert(batcher, n):
    return await batcher.run(lambda conn: conn.execute(text("INSERT INTO item (n) VALUES (:n)"), {"n": n}))


async def test_a_failing_batch_fails_its_writers_and_the_next_batch_works(engine):
    batcher = WriteBatcher(engine)
    first = asyncio.gather(conn_insert(batcher, 1), conn_insert(batcher, 1), return_exceptions=True)
    results = await first
    assert all(isinstance(r, Exception) for r in results)  # one batch: the duplicate rolled both back
    await conn_insert(batcher, 2)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT n FROM item"))).scalars().all() == [2]
