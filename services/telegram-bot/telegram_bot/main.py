"""The bot's process: a FastAPI app like the other services' (/healthz, /readyz, metrics on their own
port) that receives Telegram's webhook at POST /telegram/webhook — any replica can take any update —
or, in development, asks Telegram itself with long polling."""

import asyncio
import contextlib
import hmac
import logging
from contextlib import asynccontextmanager

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand, Update
from fastapi import FastAPI, Request, Response

from shared.cache import make_redis
from shared.service_app import add_health_routes
from telegram_bot.api import MobixApi
from telegram_bot.handlers import Deps, OncePerUpdate, build_router
from telegram_bot.settings import BotSettings
from telegram_bot.state import BotState

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COMMANDS = [("new", "New chat"), ("chats", "Your chats"), ("usage", "Your limits"), ("plan", "Your plan"),
            ("lang", "Language / زبان")]


def make_bot(settings: BotSettings) -> Bot:
    server = TelegramAPIServer.from_base(settings.api_url)
    return Bot(settings.bot_token, session=AiohttpSession(api=server))


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
        bot = make_bot(settings)
        bot_state = BotState(redis, settings.state_key, settings.update_memory_seconds)
        service_token = (settings.telegram_bot_service_token.get_secret_value()
                         if settings.telegram_bot_service_token else None)
        api = MobixApi(settings.mobix_api_url, service_token)
        dispatcher = Dispatcher()
        dispatcher.update.outer_middleware(OncePerUpdate(bot_state))
        dispatcher.include_router(build_router(Deps(api, bot_state, settings, {})))
        state.update(redis=redis, bot=bot, dispatcher=dispatcher)
        with contextlib.suppress(Exception):  # the menu is a nicety; Telegram may be slow at startup
            await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in COMMANDS])
        polling: asyncio.Task | None = None
        if settings.telegram_mode == "webhook":
            secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else None
            # Every replica sets the same webhook: idempotent, and the newest start wins nothing special.
            await until_reachable(lambda: bot.set_webhook(
                settings.telegram_webhook_url or "", secret_token=secret,
                allowed_updates=["message", "edited_message", "callback_query"]))
        else:
            await until_reachable(bot.delete_webhook)
            polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False))
        try:
            yield
        finally:
            if polling is not None:
                with contextlib.suppress(RuntimeError):
                    await dispatcher.stop_polling()
                polling.cancel()
            for task in list(tasks):  # replies in progress finish their edits
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout=10)
            await api.aclose()
            await bot.session.close()
            await redis.aclose()

    app = FastAPI(title="MobixAI Telegram bot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(WEBHOOK_PATH, include_in_schema=False)
    async def webhook(request: Request) -> Response:
        expected = settings.telegram_webhook_secret
        sent = request.headers.get(SECRET_HEADER, "")
        if expected is not None and not hmac.compare_digest(sent.encode(), expected.get_secret_value().encode()):
            return Response(status_code=401)
        try:
            update = Update.model_validate(await request.json(), context={"bot": state["bot"]})
        except ValueError:
            return Response(status_code=400)
        # Answer Telegram at once (it waits for no reply to stream); the update is handled meanwhile.
        task = asyncio.create_task(state["dispatcher"].feed_update(state["bot"], update))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return Response(status_code=200)

    async def redis_ready() -> bool:
        return bool(await state["redis"].ping())

    add_health_routes(app, {"redis": redis_ready})
    return app
