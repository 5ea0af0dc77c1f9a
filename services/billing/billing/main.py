"""Billing service application: plans, subscriptions, admission and usage behind RPC and events."""

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from billing.handlers import build_router
from billing.rules import floor_ms
from billing.seed import seed_plans
from billing.service import BillingService
from billing.settings import BillingSettings
from shared.broker import declare_topology, make_broker
from shared.cache import make_redis
from shared.clock import Clock, SystemClock
from shared.db import make_engine, make_session_factory, transaction
from shared.metrics import QueueDepthPoller, queues_of
from shared.migrations import upgrade_to_head
from shared.service_app import add_health_routes

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: BillingSettings, clock: Clock | None = None) -> FastAPI:
    settings.check_production_safety()
    settings.configure_retries()
    clock = clock or SystemClock()
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings.database_url)
        factory = make_session_factory(engine)
        await upgrade_to_head(settings.database_url, MIGRATIONS)
        try:
            async with transaction(factory) as s:
                if await seed_plans(s, floor_ms(clock.now())):
                    log.info("created the starter plans")
        except IntegrityError:
            log.info("another replica created the starter plans")
        redis = make_redis(settings.redis_url)
        service = BillingService(factory, redis, settings, clock)
        broker = make_broker(settings.rabbit_url)
        broker.include_router(build_router(service))
        await broker.connect()
        await declare_topology(broker)
        await broker.start()
        queue_metrics = QueueDepthPoller(broker, queues_of("billing."), settings.queue_metrics_seconds)
        queue_metrics.start()
        state.update(engine=engine, broker=broker, redis=redis, service=service)
        app.state.billing = state
        try:
            yield
        finally:
            await queue_metrics.stop()
            await broker.stop()  # stop consuming first; in-flight handlers finish (graceful timeout)
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(title="MobixAI billing service", lifespan=lifespan, docs_url=None, redoc_url=None)

    async def database_ready() -> bool:
        async with state["engine"].connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def broker_ready() -> bool:
        return await state["broker"].ping(timeout=2)

    async def redis_ready() -> bool:
        return bool(await state["redis"].ping())

    add_health_routes(app, {"database": database_ready, "broker": broker_ready, "redis": redis_ready})
    return app
