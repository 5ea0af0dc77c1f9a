"""Billing admission benchmark: admission latency (p50/p99) and the limit-accuracy check.

    .venv/bin/python -m bench.billing_admission [--admissions 2000] [--storm 500]

Runs the real billing service in-process over a scratch SQLite database and the Redis of REDIS_URL
(keys under a throw-away prefix, deleted afterwards). Accuracy: N admissions at once, from two
replicas, at a message and at a token boundary, every admitted reply then completes (twice, as
at-least-once delivery may) using all it was allowed; committed usage is compared with the limit.
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from decimal import Decimal

from billing.models import BillingTable
from billing.seed import seed_plans
from billing.service import BillingService
from billing.settings import BillingSettings

from shared.cache import make_redis
from shared.clock import SystemClock
from shared.contracts import billing as b
from shared.contracts.llm import ReplyCompleted, Usage
from shared.db import create_schema, make_engine, make_session_factory, transaction
from shared.errors import LimitExceeded


def request(user_id: int, **kw) -> b.AdmitExchange:
    fields = dict(user_id=user_id, exchange_id=uuid.uuid4(), session_id=1, model="bench/model", is_free_model=False,
                  token_cost_multiplier=Decimal("1.00"), prompt_tokens=200, max_reply_tokens=1_024)
    return b.AdmitExchange(**{**fields, **kw})


def completed(admission: b.Admission, user_id: int, prompt: int) -> ReplyCompleted:
    return ReplyCompleted(
        exchange_id=admission.exchange_id, session_id=1, user_id=user_id, model="bench/model", content="x",
        usage=Usage(prompt_tokens=prompt, completion_tokens=admission.max_tokens,
                    total_tokens=prompt + admission.max_tokens, cost_usd=Decimal("0.0001")),
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def latency(service: BillingService, n: int) -> None:
    plan = await service.plans.add({"name": "bench-open", "sku": "bench-open", "duration_days": 0})
    users = list(range(1, 51))
    for user in users:
        await service.start_subscription(b.StartSubscription(user_id=user, plan_id=plan.id))
        await service.admit(request(user))  # warm: state built, scripts loaded
    admit_ms, commit_ms = [], []
    for i in range(n):
        user = users[i % len(users)]
        start = time.perf_counter()
        admission = await service.admit(request(user))
        admit_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        await service.on_reply_completed(completed(admission, user, 200))
        commit_ms.append((time.perf_counter() - start) * 1000)
    print(f"admission latency   n={n}  p50 {statistics.median(admit_ms):6.2f} ms   p99 {percentile(admit_ms, 99):6.2f} ms")
    print(f"commit latency      n={n}  p50 {statistics.median(commit_ms):6.2f} ms   p99 {percentile(commit_ms, 99):6.2f} ms")
    concurrent = 200
    start = time.perf_counter()
    await asyncio.gather(*(service.admit(request(users[i % len(users)])) for i in range(concurrent)))
    elapsed = time.perf_counter() - start
    print(f"concurrent admits   n={concurrent}  {concurrent / elapsed:7.0f} admissions/s (one process)")


async def accuracy(replicas: list[BillingService], n: int, name: str, limit_field: str, limit: int,
                   user_id: int) -> int:
    service = replicas[0]
    plan = await service.plans.add({"name": f"bench-{name}", "sku": f"bench-{name}", "duration_days": 0,
                                    limit_field: limit})
    await service.start_subscription(b.StartSubscription(user_id=user_id, plan_id=plan.id))

    async def one(i: int):
        try:
            return await replicas[i % len(replicas)].admit(request(user_id))
        except LimitExceeded:
            return None

    admitted = [a for a in await asyncio.gather(*(one(i) for i in range(n))) if a is not None]
    events = [completed(a, user_id, 200) for a in admitted]
    await asyncio.gather(*(r.on_reply_completed(e) for e in events for r in replicas))
    report = {row.name: row for row in (await service.usage(b.UserQuery(user_id=user_id))).limits}
    used = report[name].used
    overshoot = max(0, used - limit)
    print(f"limit accuracy      {name:<15} N={n} concurrent  admitted {len(admitted):4d}  committed {used:>6} "
          f"/ limit {limit:>6}  overshoot {overshoot}")
    return overshoot


async def main(args: argparse.Namespace) -> int:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-billing-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/billing.db"
        settings = BillingSettings(BILLING_DATABASE_URL=url, REDIS_URL=redis_url)
        engines = [make_engine(url), make_engine(url)]
        await create_schema(engines[0], BillingTable.metadata)
        async with transaction(make_session_factory(engines[0])) as s:
            await seed_plans(s, SystemClock().now())
        redis = make_redis(redis_url)
        replicas = [BillingService(make_session_factory(e), redis, settings, SystemClock(), redis_prefix=prefix)
                    for e in engines]
        try:
            print(f"billing benchmark: SQLite in {scratch}, Redis {redis_url} (prefix {prefix})")
            await latency(replicas[0], args.admissions)
            overshoot = await accuracy(replicas, args.storm, "hourly_messages", "hourly_max_messages", 25, 900_001)
            overshoot += await accuracy(replicas, args.storm, "hourly_tokens", "hourly_max_tokens", 20_000, 900_002)
            print(f"overshoot total     {overshoot} (target 0)")
            return 0 if overshoot == 0 else 1
        finally:
            keys = [k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
            for engine in engines:
                await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admissions", type=int, default=2_000, help="sequential admissions timed")
    parser.add_argument("--storm", type=int, default=500, help="concurrent admissions at each boundary")
    raise SystemExit(asyncio.run(main(parser.parse_args())))
