"""The gateway application: REST API with session auth, over RPC to chat and billing (api.md)."""

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI
from faststream.rabbit import RabbitRouter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from gateway import schemas
from gateway.audit import AuditLog
from gateway.auth_service import AuthService
from gateway.client_ip import ProxyHeadersMiddleware, TrustedProxies, parse_networks
from gateway.error_texts import Catalogue
from gateway.errors import install_error_handlers
from gateway.events import UserEvents
from gateway.hosts import AllowedHostsMiddleware
from gateway.middleware import (
    BodyLimitMiddleware,
    CatchAllMiddleware,
    MethodsMiddleware,
    MetricsMiddleware,
    NoSniffMiddleware,
    RequestIdMiddleware,
    TrailingSlashMiddleware,
)
from gateway.openapi import install_openapi
from gateway.otp import OtpStore
from gateway.passwords import Passwords
from gateway.plans import PlanCache, build_plan_events_router
from gateway.read_cache import VersionedCache
from gateway.registrations import Registrations
from gateway.routes import (
    admin_audit,
    admin_billing,
    admin_catalog,
    admin_media,
    admin_payments,
    admin_reports,
    auth,
    catalog,
    chat,
    payments,
    stream,
    usage,
    users,
)
from gateway.routes import telegram as telegram_routes
from gateway.routes import tokens as token_routes
from gateway.routes.media import mount_media
from gateway.runtime import Runtime
from gateway.session_lists import PREFIX as SESSION_LIST_PREFIX
from gateway.session_lists import SessionLists
from gateway.session_rows import SessionRows
from gateway.sessions import SessionStore
from gateway.settings import GatewaySettings
from gateway.sms import SmsProvider, make_sms_provider
from gateway.stream import build_stream_router, make_stream_redis
from gateway.throttle import LoginThrottle, SmsCaps
from gateway.tokens import TokenStore
from gateway.webapp import WebAppMiddleware
from shared.broker import declare_topology, make_broker
from shared.cache import make_redis
from shared.clock import Clock, SystemClock
from shared.db import make_engine, make_session_factory
from shared.errors import ValidationFailed
from shared.loop_lag import LoopLagMonitor
from shared.migrations import upgrade_to_head
from shared.rpc import RpcClient
from shared.service_app import add_health_routes
from shared.tracing import tracing_enabled

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
USER_CACHE_PREFIX = "mobix:gw:user:"

# ---- ROUTES ---------------------------------------------------------------------------------------
# Public routes (no login) and routes behind a login; extend these lists to add resources.
PUBLIC_ROUTERS: list[APIRouter] = [auth.router, payments.public, token_routes.public_router, telegram_routes.router]
LOGGED_IN_ROUTERS: list[APIRouter] = [
    auth.account_router,
    token_routes.router,
    users.router,
    usage.router,
    catalog.router,
    chat.router,
    stream.router,
    admin_catalog.router,
    admin_media.router,
    admin_billing.router,
    payments.router,
    admin_payments.router,
    admin_reports.router,
    admin_audit.router,
]


def broker_routers(redis: Redis, session_lists: SessionLists) -> list[RabbitRouter]:
    """Consumers the gateway runs on its broker (extend here)."""
    return [build_stream_router(redis, session_lists), build_plan_events_router(redis)]
# ---------------------------------------------------------------------------------------------------


async def _drop_old_copies(*caches: VersionedCache | SessionRows) -> None:
    """Copies made before this start may predate a restored or migrated database."""
    try:
        for cache in caches:
            await (cache.touch_all() if isinstance(cache, SessionRows) else cache.invalidate_all())
    except RedisError:  # the gateway still starts, answering 503 until Redis is back
        log.warning("Redis unreachable at start-up: cached users and session lists were not reset")


def create_app(
    settings: GatewaySettings,
    *,
    clock: Clock | None = None,
    sms: SmsProvider | None = None,
    password_hasher: PasswordHasher | None = None,
) -> FastAPI:
    settings.check_production_safety()
    clock = clock or SystemClock()
    sms = sms or make_sms_provider(
        settings.sms_provider, base_url=settings.sms_base_url,
        api_key=settings.sms_api_key.get_secret_value() if settings.sms_api_key else None,
        template=settings.sms_template, production=settings.environment == "production",
        timeout_seconds=settings.sms_timeout_seconds,
    )
    passwords = Passwords(password_hasher)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            engine = make_engine(settings.database_url)
            stack.push_async_callback(engine.dispose)
            if settings.migrates_on_start():  # else `python -m shared.migrate` ran before the deploy
                await upgrade_to_head(settings.database_url, MIGRATIONS)
            redis = make_redis(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            stream_redis = make_stream_redis(settings.redis_url)  # blocking reads of event streams
            stack.push_async_callback(stream_redis.aclose)
            # The gateway consumes only the reply-stream queue, whose events must stay in order: one
            # message in hand at a time (aio-pika runs each delivered message as its own task).
            broker = make_broker(settings.rabbit_url, prefetch=1)
            events = UserEvents(broker)
            rpc = RpcClient(settings.rabbit_url, timeout=settings.rpc_timeout_seconds)
            session_lists = SessionLists(
                SessionRows(redis, SESSION_LIST_PREFIX, ttl_seconds=settings.session_list_cache_seconds), rpc
            )
            for router in broker_routers(redis, session_lists):
                broker.include_router(router)
            await broker.connect()
            stack.push_async_callback(broker.stop)
            await declare_topology(broker)
            await broker.start()
            loop_lag = LoopLagMonitor()
            loop_lag.start()
            stack.push_async_callback(loop_lag.stop)
            await rpc.connect()
            stack.push_async_callback(rpc.close)
            service = AuthService(
                factory=make_session_factory(engine), passwords=passwords,
                otp=OtpStore(redis, clock, settings.secret_key), sms=sms, throttle=LoginThrottle(redis, clock),
                events=events, clock=clock, phone_region=settings.default_phone_region,
                users=VersionedCache(redis, USER_CACHE_PREFIX, ttl_seconds=settings.user_cache_seconds),
                registrations=Registrations(redis), sms_regions=settings.sms_regions,
                sms_caps=SmsCaps(redis, clock, per_ip=settings.sms_per_ip_hourly, total=settings.sms_global_hourly),
            )
            await _drop_old_copies(service.users, session_lists.cache)
            sessions = SessionStore(redis, clock, absolute_seconds=settings.session_absolute_lifetime_seconds,
                                    idle_seconds=settings.session_idle_timeout_seconds, factory=service.factory)
            app.state.runtime = Runtime(settings=settings, clock=clock, engine=engine, redis=redis,
                                        stream_redis=stream_redis, broker=broker, rpc=rpc, sessions=sessions, auth=service, session_lists=session_lists,
                                        plans=PlanCache(redis, rpc, clock, ttl_seconds=settings.plan_cache_seconds),
                                        tokens=TokenStore(service.factory, clock),
                                        audit=AuditLog(service.factory, clock))
            await _ensure_staff_user(service, settings)
            yield

    app = FastAPI(
        title="MobixAI API",
        version="1.0.0",
        description="Subscription AI chat. Log in through `/api/auth/`; the `sessionid` cookie authenticates, "
        "and POST/PUT/PATCH/DELETE also send the `csrftoken` cookie back as the `X-CSRFToken` header.",
        lifespan=lifespan,
        openapi_url="/api/schema/",
        docs_url="/api/docs/",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        responses=schemas.COMMON_RESPONSES,
        # Spans come from OpenTelemetry's FastAPI instrumentation (below) and metrics from our own
        # middleware; FastAPI's built-in telemetry would add a second server span, and even unused it
        # asks OpenTelemetry per request whether a provider is set (an environment lookup each time).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.router.redirect_slashes = False
    # app.state holds the Runtime (every client the lifespan builds; routes reach it through
    # gateway.deps / gateway.backends) and two facts fixed when the app is built, which the error
    # handlers and link builders need even when the lifespan never started.
    app.state.catalogue = Catalogue.from_file(settings.error_messages_file)
    app.state.public_base_url = settings.public_base_url  # gateway.hosts.public_url
    install_error_handlers(app)
    install_openapi(app)
    # Added innermost first: requests pass NoSniff → RequestId → Metrics → CatchAll → ProxyHeaders →
    # AllowedHosts → TrailingSlash → Methods → BodyLimit → WebApp (GET/HEAD outside the API's paths are
    # the browser app's pages and files).
    app.add_middleware(WebAppMiddleware, directory=settings.webapp_dir, media_base_url=settings.media_base_url,
                       stripe_js_url=settings.stripe_js_url)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(MethodsMiddleware)
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(AllowedHostsMiddleware, allowed=settings.allowed_host_list)
    app.add_middleware(ProxyHeadersMiddleware, trusted=TrustedProxies(parse_networks(settings.forwarded_allow_ips)))
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(NoSniffMiddleware)

    for router in PUBLIC_ROUTERS:
        app.include_router(router)
    for router in LOGGED_IN_ROUTERS:
        app.include_router(router, responses=schemas.LOGGED_IN_RESPONSES)
    if settings.media_base_url.startswith("/"):
        mount_media(app, settings.media_root, settings.media_base_url)
    add_health_routes(app, _readiness_checks(app))
    if tracing_enabled():  # a server span per request, parent of the RPC and broker spans
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz")
    return app


async def _ensure_staff_user(service: AuthService, settings: GatewaySettings) -> None:
    if not (settings.mobix_admin_phone and settings.mobix_admin_password):
        return
    try:
        await service.ensure_staff(settings.mobix_admin_phone, settings.mobix_admin_password.get_secret_value())
    except ValidationFailed as exc:
        raise SystemExit(f"MOBIX_ADMIN_PHONE / MOBIX_ADMIN_PASSWORD: {exc.message}") from exc


def _readiness_checks(app: FastAPI) -> dict:
    def rt() -> Runtime:
        return app.state.runtime

    async def database() -> bool:
        async with rt().engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def redis() -> bool:
        return bool(await rt().redis.ping())

    async def broker() -> bool:
        return await rt().broker.ping(timeout=2) and rt().rpc.connected

    # Its own dependencies only: a chat or billing outage must not mark every gateway replica unready
    # (the requests that need them answer 503 on their own; the API stays up for the rest).
    return {"database": database, "redis": redis, "broker": broker}
