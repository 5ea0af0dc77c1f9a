"""Chat service application: catalog, sessions and messages behind RPC and reply events."""

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from chat.admin import CatalogAdmin
from chat.admission import BillingAdmission
from chat.handlers import build_router
from chat.openrouter_models import fetch_models
from chat.outbox import OutboxRelay
from chat.seed import seed_catalog
from chat.service import ChatService
from chat.settings import ChatSettings
from shared import shutdown
from shared.broker import declare_topology, make_broker
from shared.cache import make_redis
from shared.clock import Clock, SystemClock
from shared.db import transaction
from shared.loop_lag import LoopLagMonitor
from shared.migrations import open_database
from shared.prompt_refs import PromptStore
from shared.rpc import RpcClient
from shared.service_app import add_health_routes, dependency_checks
from shared.tokens import warm_up

MIGRATIONS = Path(__file__).parent / "migrations"
GRACEFUL_SECONDS = 20.0  # in-flight handlers finish within this after a stop; the whole stop stays under 60 s

log = logging.getLogger(__name__)


async def _sweep_stale(service: ChatService, settings: ChatSettings) -> None:
    """Fail exchanges stuck past their deadline, every tenth of it (at most a minute apart)."""
    interval = min(60.0, settings.reply_stale_after_seconds / 10)
    while True:
        await asyncio.sleep(interval)
        try:
            await service.fail_stale_exchanges()
        except Exception as exc:  # noqa: BLE001 - the database may be away: next time
            log.warning("stale exchange sweep failed: %r", exc)


def create_app(settings: ChatSettings, clock: Clock | None = None) -> FastAPI:
    settings.check_production_safety()
    settings.configure_retries()
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine, factory = await open_database(settings.database_url, MIGRATIONS, migrate=settings.migrates_on_start())
        await asyncio.to_thread(warm_up)  # the first send must not pay for loading the encoding
        if settings.seed_catalog:
            async with transaction(factory) as s:
                await seed_catalog(s)
        broker = make_broker(settings.rabbit_url, graceful_timeout=GRACEFUL_SECONDS)
        # Only the relay uses Redis: a prompt too big for the broker waits there for the worker, as long
        # as chat waits for the reply.
        redis = make_redis(settings.redis_url, max_connections=8)
        prompts = PromptStore(redis, ttl_seconds=settings.reply_stale_after_seconds + 60)
        relay = OutboxRelay(factory, broker, settings.outbox_poll_seconds, prompts)
        rpc = RpcClient(settings.rabbit_url, timeout=settings.rpc_timeout_seconds)  # a send asks billing
        billing = BillingAdmission(rpc, settings.rpc_timeout_seconds)
        service = ChatService(factory, settings, clock or SystemClock(), on_outbox=relay.committed, billing=billing)
        broker.include_router(build_router(service, CatalogAdmin(factory, lambda: fetch_models(
            settings.openrouter_models_base, settings.openrouter_api_key, settings.models_sync_timeout_seconds,
        ))))
        await broker.connect()
        await declare_topology(broker)
        await rpc.connect()
        await broker.start()
        relay.start()
        sweeper = asyncio.create_task(_sweep_stale(service, settings), name="stale-exchanges")
        loop_lag = LoopLagMonitor()
        loop_lag.start()
        state.update(engine=engine, broker=broker, service=service, relay=relay)
        app.state.chat = state
        try:
            yield
        finally:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
            await loop_lag.stop()
            # Stop consuming first (in-flight handlers finish, within the graceful timeout; every
            # subscriber at once, so the waits do not add up), then publish what they stored while
            # the connection is still open, then close it. Each step has a deadline: asked to stop,
            # the process exits (shared.shutdown).
            await shutdown.step("subscribers", asyncio.gather(*(s.stop() for s in broker.subscribers)),
                                GRACEFUL_SECONDS + 5)
            await shutdown.step("outbox relay", relay.stop(), 15)
            await shutdown.step("rpc client", rpc.close(), 5)
            await shutdown.step("broker", broker.stop(), 10)
            await shutdown.step("redis", redis.aclose(), 5)
            await shutdown.step("database", engine.dispose(), 5)

    app = FastAPI(title="MobixAI chat service", lifespan=lifespan, docs_url=None, redoc_url=None)

    add_health_routes(app, dependency_checks(state, "database", "broker"))
    return app
