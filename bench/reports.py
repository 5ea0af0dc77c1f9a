"""Operator console reports at scale: each reporting query over a ledger of a million rows on PostgreSQL.

    .venv/bin/python -m bench.reports [--rows 1000000] [--runs 7] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Creates a scratch billing database (dropped afterwards), migrated to head as in production, and fills
it in SQL (generate_series, not the ORM): `--rows` ledger rows over 400 days ending now (10,000 users,
20 models, titles, free models, stopped replies), 2 % as many released reservations and 1 % as many
payments. Then times, p50 of `--runs` runs after one warm-up, billing's own report queries
(billing.admin_reports, the code the console calls) for 30- and 365-day ranges ending today, beside
a bare `SELECT count(*)` of the ledger rows in the same range: the ratio is the figure that counts.
`--compare-plain-index` also times them with a plain created_at index instead of the covering one
(the choice docs/decisions.md records).
"""

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
from billing.admin_reports import AdminReports
from sqlalchemy import text

from bench.stats import percentile
from shared.clock import SystemClock
from shared.contracts import reports as r
from shared.db import make_engine
from shared.migrations import upgrade_to_head

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "billing" / "billing" / "migrations"
DAYS_OF_DATA = 400

FILL = """
INSERT INTO plan (name, sku, description, price, duration_days, max_tokens, max_tokens_free, max_openrouter_cost_usd,
    hourly_max_messages, hourly_max_tokens, three_hours_max_messages, three_hours_max_tokens,
    twelve_hours_max_messages, twelve_hours_max_tokens, daily_max_messages, daily_max_tokens, weekly_max_messages,
    weekly_max_tokens, monthly_max_messages, monthly_max_tokens, monthly_free_model_messages, monthly_free_model_tokens,
    daily_image_generation_limit, weekly_image_generation_limit, monthly_image_generation_limit, is_active, currency,
    is_purchasable, created_at)
SELECT 'Plan ' || p, 'PLAN_' || p, '', 70000 * p, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    true, 'IRT', true, now()
FROM generate_series(1, 3) p;

INSERT INTO usage_ledger (exchange_id, user_id, session_id, kind, model, is_free_model, prompt_tokens,
    completion_tokens, tokens, effective_tokens, cost_usd, cost_nano, had_image, stopped, subscription_id,
    admitted_at, created_at)
SELECT md5('x' || g)::uuid, 1 + (g * 7919) % 10000, 1 + g % 100000,
    CASE WHEN g % 10 = 0 THEN 'title' ELSE 'exchange' END, 'vendor/model-' || (g % 20), g % 20 < 5,
    100 + g % 900, 50 + g % 400, 150 + g % 900 + g % 400, 150 + g % 900 + g % 400,
    ((g % 5000) * 1000) / 1e9, (g % 5000) * 1000, false, g % 17 = 0, NULL, at, at
FROM (SELECT g, now() - ((g::bigint * 104729) % ($1::bigint * 86400)) * interval '1 second' AS at
      FROM generate_series(1, $2::bigint) g) s;

INSERT INTO reservation (exchange_id, user_id, session_id, subscription_id, model, is_free_model,
    token_cost_multiplier, prompt_tokens, max_tokens, reserved_tokens, reserved_cost_nano, is_image, admitted_at,
    expires_at, status, release_reason, released_at)
SELECT md5('r' || g)::uuid, 1 + g % 10000, 1, 1, 'vendor/model-' || (g % 20), false, 1, 10, 100, 110, 0, false,
    at, at + interval '15 minutes', 'released', (ARRAY['failed', 'timed_out', 'abandoned', 'released'])[1 + g % 4], at
FROM (SELECT g, now() - ((g::bigint * 7919) % ($1::bigint * 86400)) * interval '1 second' AS at
      FROM generate_series(1, $2::bigint / 50) g) s;

INSERT INTO payment (id, user_id, plan_id, status, original_amount, credit_amount, discount_amount, amount, currency,
    provider, provider_ref, created_at, completed_at, settled_at)
SELECT md5('p' || g)::uuid, 1 + g % 10000, 1 + g % 3, CASE WHEN g % 20 = 0 THEN 'refunded' ELSE 'completed' END,
    70000, 0, 0, 70000, CASE WHEN g % 10 = 0 THEN 'USD' ELSE 'IRT' END, 'zibal', 'bench-' || g, at, at,
    at + CASE WHEN g % 20 = 0 THEN interval '2 days' ELSE interval '0' END
FROM (SELECT g, now() - ((g::bigint * 6007) % ($1::bigint * 86400)) * interval '1 second' AS at
      FROM generate_series(1, $2::bigint / 100) g) s;

INSERT INTO subscription (user_id, plan_id, start_date, end_date, is_active)
SELECT u, 1 + u % 3, now() - interval '3 days', now() + interval '27 days', true FROM generate_series(1, 10000) u;
"""
COVERING = "ix_usage_ledger_created"
COUNT = text("SELECT count(*) FROM usage_ledger WHERE created_at >= :a AND created_at < :b")


def _url(server: str, database: str, driver: str = "postgresql") -> str:
    return urlunparse(urlparse(server)._replace(scheme=driver, path=f"/{database}"))


async def _admin(server: str, statement: str) -> None:
    conn = await asyncpg.connect(_url(server, "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _fill(dsn: str, rows: int) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        for statement in FILL.split(";\n"):
            if statement.strip():
                args = (DAYS_OF_DATA, rows) if "$1" in statement else ()
                await conn.execute(statement, *args)
        await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a table at rest: index-only scans work
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _p50(runs: int, work: Callable[[], Awaitable[object]]) -> float:
    await work()  # warm-up: plans cached, pages in memory
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 50)


async def _measure(engine, reports: AdminReports, runs: int) -> list[tuple[str, int, int, float, float]]:
    today = datetime.now(UTC).date()
    out = []
    for days in (30, 365):
        q = r.TopQuery(start=today - timedelta(days=days - 1), end=today, limit=10)
        start = datetime.combine(q.start, datetime.min.time(), UTC)
        end = datetime.combine(q.end + timedelta(days=1), datetime.min.time(), UTC)

        async def baseline(start: datetime = start, end: datetime = end) -> int:
            async with engine.connect() as conn:
                return (await conn.execute(COUNT, {"a": start, "b": end})).scalar_one()

        in_range = await baseline()
        base = await _p50(runs, baseline)
        for name, query in (("overview", lambda q=q: reports.overview(r.ReportRange(start=q.start, end=q.end))),
                            ("top-users", lambda q=q: reports.top_users(q)),
                            ("top-models", lambda q=q: reports.top_models(q))):
            out.append((name, days, in_range, await _p50(runs, query), base))
    return out


def _table(title: str, results: list[tuple[str, int, int, float, float]]) -> str:
    lines = [title, "", "| query | range | ledger rows in range | p50 ms | count(*) p50 ms | ratio |",
             "|---|---|---|---|---|---|"]
    for name, days, rows, p50, base in results:
        lines.append(f"| {name} | {days} days | {rows:,} | {p50:.1f} | {base:.1f} | {p50 / base:.1f}× |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    database = f"mobix_bench_reports_{uuid.uuid4().hex[:8]}"
    await _admin(args.postgres, f'CREATE DATABASE "{database}"')
    engine = None
    try:
        url = _url(args.postgres, database, "postgresql+asyncpg")
        await upgrade_to_head(url, MIGRATIONS)
        seconds = await _fill(_url(args.postgres, database), args.rows)
        print(f"filled {args.rows:,} ledger rows (+ reservations, payments) in {seconds:.1f} s")
        engine = make_engine(url)
        reports = AdminReports(engine, SystemClock(), "IRT")
        print(_table(f"Reports over {args.rows:,} ledger rows, PostgreSQL, covering index ({COVERING})",
                     await _measure(engine, reports, args.runs)))
        if args.compare_plain_index:
            async with engine.begin() as conn:
                await conn.execute(text(f"DROP INDEX {COVERING}"))
                await conn.execute(text(f"CREATE INDEX {COVERING} ON usage_ledger (created_at)"))
                await conn.execute(text("ANALYZE usage_ledger"))
            print()
            print(_table("Same, with a plain created_at index", await _measure(engine, reports, args.runs)))
    finally:
        if engine is not None:
            await engine.dispose()
        await _admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--compare-plain-index", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
