"""The bot's process: a FastAPI app like the other services' (/healthz, /readyz, metrics on their own
port) that receives Telegram's webhook at POST /telegram/webhook — any replica can take any update —
or, in development, asks Telegram itself with long polling."""

import asyncio
import contextlib
import hmac
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from telegram import Bot, BotCommand, Update
from telegram.ext import Application

from shared.cache import make_redis
from shared.service_app import add_health_routes, dependency_checks
from telegram_bot.api import MobixApi
from telegram_bot.handlers import Deps, build_handlers, once_per_update
from telegram_bot.settings import BotSettings
from telegram_bot.state import BotState

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COMMANDS = [("new", "New chat"), ("chats", "Your chats"), ("usage", "Your limits"), ("plan", "Your plan"),
            ("lang", "Language / زبان")]


ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


def make_application(settings: BotSettings) -> Application:
    bot = Bot(settings.bot_token, base_url=f"{settings.api_url}/bot", base_file_url=f"{settings.api_url}/file/bot")
    # Updates are handled concurrently (a reply streams for seconds); the per-chat lock orders a chat's.
    builder = Application.builder().bot(bot).concurrent_updates(True)
    if settings.telegram_mode == "webhook":
        builder = builder.updater(None)
    return builder.build()


async def until_reachable(call, attempts: int = 60) -> None:
    """Telegram (or the emulator, started beside us) may not answer yet: try for about a minute."""
    for attempt in range(attempts):
        try:
            await call()
            return
        except Exception as exc:
            if attempt == attempts - 1:
                raise
            log.warning("Telegram not reachable yet (%s); retrying", exc)
            await asyncio.sleep(1)


def create_app(settings: BotSettings) -> FastAPI:
    settings.check_production_safety()
    state: dict = {}
    tasks: set[asyncio.Task] = set()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = make_redis(settings.redis_url)
        bot_state = BotState(redis, settings.state_key, settings.update_memory_seconds)
        service_token = (settings.telegram_bot_service_token.get_secret_value()
                         if settings.telegram_bot_service_token else None)
        api = MobixApi(settings.mobix_api_url, service_token)
        application = make_application(settings)
        application.add_handler(once_per_update(bot_state), group=-1)
        application.add_handlers(build_handlers(Deps(api, bot_state, settings, {})))
        await until_reachable(application.initialize)  # getMe: Telegram (or the emulator) answers
        bot = application.bot
        state.update(redis=redis, application=application)
        with contextlib.suppress(Exception):  # the menu is a nicety
            await bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        await application.start()
        if settings.telegram_mode == "webhook":
            secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else None
            # Every replica sets the same webhook: idempotent.
            await until_reachable(lambda: bot.set_webhook(settings.telegram_webhook_url or "", secret_token=secret,
                                                          allowed_updates=ALLOWED_UPDATES))
        else:
            await until_reachable(bot.delete_webhook)
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        try:
            yield
        finally:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            for task in list(tasks):  # replies in progress finish their edits
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout=10)
            await application.stop()
            await application.shutdown()
            await api.aclose()
            await redis.aclose()

    app = FastAPI(title="MobixAI Telegram bot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(WEBHOOK_PATH, include_in_schema=False)
    async def webhook(request: Request) -> Response:
        expected = settings.telegram_webhook_secret
        sent = request.headers.get(SECRET_HEADER, "")
        if expected is not None and not hmac.compare_digest(sent.encode(), expected.get_secret_value().encode()):
            return Response(status_code=401)
        application: Application = state["application"]
        try:
            update = Update.de_json(await request.json(), application.bot)
        except (ValueError, TypeError, KeyError):
            return Response(status_code=400)
        if update is None:
            return Response(status_code=400)
        # Answer Telegram at once (it waits for no reply to stream); the update is handled meanwhile.
        task = asyncio.create_task(application.process_update(update))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return Response(status_code=200)

    add_health_routes(app, dependency_checks(state, "redis"))
    return app
