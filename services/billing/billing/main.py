"""Billing service application: plans, subscriptions, admission and usage behind RPC and events."""

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from billing.events import BillingEvents
from billing.handlers import build_router
from billing.providers import PaymentProvider, Stripe, Zibal
from billing.rules import floor_ms
from billing.seed import seed_plans
from billing.service import BillingService
from billing.settings import BillingSettings
from shared.broker import declare_topology, make_broker
from shared.cache import make_redis
from shared.clock import Clock, SystemClock
from shared.db import transaction
from shared.loop_lag import LoopLagMonitor
from shared.migrations import open_database
from shared.service_app import add_health_routes, dependency_checks

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


async def _reconcile_forever(service: BillingService, seconds: int) -> None:
    """Ask the provider about pending payments every `seconds` (every replica: settling is a
    compare-and-set, so two replicas asking about one payment settle it once)."""
    if seconds <= 0:
        return
    while True:
        await asyncio.sleep(seconds)
        try:
            done = await service.payments.reconcile()
            if done.settled:
                log.info("reconciliation settled %s of %s pending payments", done.settled, done.checked)
        except Exception:
            log.exception("payment reconciliation failed")


def create_app(settings: BillingSettings, clock: Clock | None = None) -> FastAPI:
    settings.check_production_safety()
    settings.configure_retries()
    clock = clock or SystemClock()
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine, factory = await open_database(settings.database_url, MIGRATIONS, migrate=settings.migrates_on_start())
        try:
            async with transaction(factory) as s:
                if await seed_plans(s, floor_ms(clock.now()), settings.billing_currency):
                    log.info("created the starter plans")
        except IntegrityError:
            log.info("another replica created the starter plans")
        redis = make_redis(settings.redis_url)
        broker = make_broker(settings.rabbit_url)
        zibal = Zibal(settings.zibal_base_url, settings.zibal_merchant.get_secret_value(),
                      timeout=settings.zibal_timeout_seconds)
        providers: dict[str, PaymentProvider] = {zibal.name: zibal}
        if settings.stripe_api_key.get_secret_value():
            stripe = Stripe(settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base,
                            page_url=settings.stripe_payment_page_url, timeout=settings.stripe_timeout_seconds)
            providers[stripe.name] = stripe
        service = BillingService(factory, redis, settings, clock, events=BillingEvents(broker), providers=providers)
        broker.include_router(build_router(service))
        await broker.connect()
        await declare_topology(broker)
        await broker.start()
        loop_lag = LoopLagMonitor()
        loop_lag.start()
        reconciler = asyncio.create_task(_reconcile_forever(service, settings.payment_reconcile_seconds))
        state.update(engine=engine, broker=broker, redis=redis, service=service)
        app.state.billing = state
        try:
            yield
        finally:
            reconciler.cancel()
            await loop_lag.stop()
            await broker.stop()  # stop consuming first; in-flight handlers finish (graceful timeout)
            for provider in providers.values():
                await provider.close()
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(title="MobixAI billing service", lifespan=lifespan, docs_url=None, redoc_url=None)

    add_health_routes(app, dependency_checks(state, "database", "broker", "redis"))
    return app
