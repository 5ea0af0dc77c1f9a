"""llm-worker application: consumes generate commands, streams from OpenRouter, writes deltas to the
sessions' Redis streams and emits reply events."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from llm_worker.client import OpenRouterClient
from llm_worker.deltas import RedisDeltas
from llm_worker.events import BrokerEvents
from llm_worker.handlers import build_router
from llm_worker.service import ReplyService
from llm_worker.settings import WorkerSettings
from llm_worker.stops import StopRegistry
from shared.broker import declare_topology, make_broker
from shared.cache import make_redis
from shared.loop_lag import LoopLagMonitor
from shared.media import MediaStore, make_media_store
from shared.prompt_refs import PromptStore
from shared.service_app import add_health_routes, dependency_checks


def create_app(settings: WorkerSettings, *, client: OpenRouterClient | None = None,
               media: MediaStore | None = None) -> FastAPI:
    settings.check_production_safety()
    settings.configure_retries()
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        openrouter = client or OpenRouterClient(settings)
        # The prefetch bounds the generations in flight; graceful_timeout lets them finish on SIGTERM.
        broker = make_broker(settings.rabbit_url, prefetch=settings.worker_concurrency,
                             graceful_timeout=settings.graceful_timeout_seconds)
        # Deltas go straight to the sessions' Redis streams the gateway's SSE readers follow. A short
        # timeout: with Redis gone, a reply loses its (transient) deltas, not seconds before its completion.
        redis = make_redis(settings.redis_url, max_connections=settings.worker_concurrency * 2, timeout=1.0)
        service = ReplyService(
            openrouter, media or make_media_store(settings),
            BrokerEvents(broker), StopRegistry(), settings, RedisDeltas(redis),
            prompts=PromptStore(redis, ttl_seconds=0),  # read only: chat's relay writes them
        )
        broker.include_router(build_router(service, settings.instance_id))
        await broker.connect()
        await declare_topology(broker)
        await broker.start()
        loop_lag = LoopLagMonitor()
        loop_lag.start()
        state.update(broker=broker, service=service, client=openrouter)
        app.state.worker = state
        try:
            yield
        finally:
            await loop_lag.stop()
            await broker.stop()  # stop consuming, then wait for in-flight generations
            await openrouter.aclose()
            await redis.aclose()

    app = FastAPI(title="MobixAI llm-worker", lifespan=lifespan, docs_url=None, redoc_url=None)

    add_health_routes(app, dependency_checks(state, "broker"))
    return app
