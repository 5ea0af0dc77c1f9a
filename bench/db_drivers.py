"""`python -m bench.db_drivers [--transactions N] [--concurrency C]`: what one small transaction costs
through SQLAlchemy with each way of reaching the database a service can be configured with.

Each transaction is shaped like a service's hot path: read one row by key, read a page of 20 rows,
insert a row, commit. C coroutines run N transactions in all; reported per transaction: wall time
(p50 / p99), CPU of the whole process (every thread), and the event loop's lag meanwhile (a ticker
coroutine's lateness, p99 and worst) — the figures behind docs/decisions.md "SQLite off the event loop".
"""

import argparse
import asyncio
import functools
import json
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.stats import percentile
from shared.db import _sqlite_pragmas, make_engine

metadata = MetaData()
rows = Table("rows", metadata, Column("id", Integer, primary_key=True), Column("owner", Integer, index=True),
             Column("text", String))
TICK_S = 0.002


def _stock_aiosqlite(path: str) -> AsyncEngine:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", pool_size=20, max_overflow=0)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)  # the same WAL settings
    return engine


async def _ticker(lags: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(TICK_S)
        lags.append((loop.time() - before - TICK_S) * 1000)


async def measure(engine: AsyncEngine, transactions: int, concurrency: int) -> dict:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(rows), [{"owner": i % 50, "text": "x" * 200} for i in range(1000)])
    walls: list[float] = []

    async def one(n: int) -> None:
        started = time.perf_counter()
        async with engine.begin() as conn:
            (await conn.execute(select(rows).where(rows.c.id == 1 + n % 1000))).one()
            (await conn.execute(select(rows).where(rows.c.owner == n % 50).limit(20))).all()
            await conn.execute(insert(rows).values(owner=n % 50, text="new"))
        walls.append((time.perf_counter() - started) * 1000)

    async def worker(first: int) -> None:
        for n in range(first, transactions, concurrency):
            await one(n)

    await asyncio.gather(*(one(n) for n in range(concurrency)))  # warm the pool and the statement caches
    walls.clear()
    lags: list[float] = []
    stop = asyncio.Event()
    ticking = asyncio.create_task(_ticker(lags, stop))
    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    await ticking
    await engine.dispose()
    return {
        "transactions_per_s": round(transactions / elapsed),
        "wall_ms_p50": round(percentile(walls, 50), 2), "wall_ms_p99": round(percentile(walls, 99), 2),
        "cpu_ms_per_transaction": round(1000 * cpu / transactions, 3),
        "loop_lag_ms_p99": round(percentile(lags, 99), 2), "loop_lag_ms_max": round(max(lags), 2),
    }


def _postgres_engine(admin_url: str) -> tuple[AsyncEngine, str]:
    from devinfra.system import _postgres

    name = f"mobix_bench_drivers_{uuid.uuid4().hex[:8]}"
    _postgres(admin_url, [f'CREATE DATABASE "{name}"'])
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return make_engine(f"{base}/{name}"), name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="admin URL of a PostgreSQL server ('' to skip)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="mobix-drivers-") as scratch:
        kinds = {
            "sqlite, a thread per connection (shared.sqlite_thread)":
                functools.partial(make_engine, f"sqlite+aiosqlite:///{Path(scratch)}/thread.db"),
            "sqlite, stock aiosqlite": functools.partial(_stock_aiosqlite, f"{Path(scratch)}/stock.db"),
        }
        for kind, make in kinds.items():
            results[kind] = asyncio.run(measure(make(), args.transactions, args.concurrency))
    if args.postgres:
        from devinfra.system import _postgres

        engine, name = _postgres_engine(args.postgres)
        try:
            results["postgresql, asyncpg"] = asyncio.run(measure(engine, args.transactions, args.concurrency))
        finally:
            _postgres(args.postgres, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
