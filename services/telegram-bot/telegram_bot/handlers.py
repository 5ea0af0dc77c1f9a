"""What the bot does with each update: link by the user's own contact, chat, buttons, commands."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from telegram_bot import metrics
from telegram_bot.api import ApiError, MobixApi
from telegram_bot.replies import follow_reply, honour_429
from telegram_bot.settings import BotSettings
from telegram_bot.state import BotState
from telegram_bot.texts import language, t

log = logging.getLogger(__name__)
RECENT_CHATS = 8


@dataclass
class Deps:
    api: MobixApi
    state: BotState
    settings: BotSettings
    # One reply at a time per chat on this replica; the API refuses a second one anyway (409).
    locks: dict[int, asyncio.Lock]

    def lock(self, chat_id: int) -> asyncio.Lock:
        return self.locks.setdefault(chat_id, asyncio.Lock())


def once_per_update(state: BotState) -> TypeHandler:
    """Telegram redelivers an update it saw no answer for: the first delivery is handled, a repeat
    does nothing (the update id is claimed in Redis, shared by every replica). Runs first (group -1)."""

    async def claim(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await state.first_time(update.update_id):
            metrics.UPDATES.labels("repeated").inc()
            raise ApplicationHandlerStop
        metrics.UPDATES.labels("handled").inc()

    return TypeHandler(Update, claim)


def _message(fn: Callable[[Message, Bot], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await fn(update.effective_message, context.bot)

    return callback


def _query(fn: Callable[[CallbackQuery, Bot], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await fn(update.callback_query, context.bot)

    return callback


async def say(bot: Bot, chat_id: int, text: str, **kwargs: Any) -> Message:
    return await honour_429(lambda: bot.send_message(chat_id, text, **kwargs))


def build_handlers(deps: Deps) -> list[BaseHandler]:
    """The bot's handlers, in the order they are tried."""
    handlers: list[BaseHandler] = []
    api, state, settings = deps.api, deps.state, deps.settings
    new_message = filters.UpdateType.MESSAGE

    def command(name: str) -> Callable:
        def register(fn: Callable) -> Callable:
            handlers.append(CommandHandler(name, _message(fn), filters=new_message))
            return fn
        return register

    def on_message(accepted: filters.BaseFilter) -> Callable:
        def register(fn: Callable) -> Callable:
            handlers.append(MessageHandler(accepted, _message(fn)))
            return fn
        return register

    def on_button(prefix: str) -> Callable:
        def register(fn: Callable) -> Callable:
            handlers.append(CallbackQueryHandler(_query(fn), pattern=f"^{prefix}:"))
            return fn
        return register

    async def who(user_id: int, telegram_lang: str | None) -> tuple[str | None, str, int | None]:
        found = await state.user(user_id)
        return found.token, language(found.lang, telegram_lang), found.session_id

    async def explain(bot: Bot, chat_id: int, lang: str, exc: ApiError, user_id: int) -> None:
        if exc.status == 401:  # the token was revoked (password change, relink elsewhere)
            await state.forget_token(user_id)
            await say(bot, chat_id, t(lang, "link_first"))
        elif exc.status >= 500:
            await say(bot, chat_id, t(lang, "error"))
        else:
            await say(bot, chat_id, exc.text)  # the API's own words, in the user's language

    # ---- linking ------------------------------------------------------------------------------------
    @command("start")
    async def start(message: Message, bot: Bot) -> None:
        assert message.from_user is not None
        _, lang, _ = await who(message.from_user.id, message.from_user.language_code)
        keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=t(lang, "share_button"), request_contact=True)]],
                                       resize_keyboard=True, one_time_keyboard=True)
        await say(bot, message.chat.id, t(lang, "share_contact"), reply_markup=keyboard)

    @on_message(new_message & filters.CONTACT)
    async def contact(message: Message, bot: Bot) -> None:
        assert message.from_user is not None and message.contact is not None
        user = message.from_user
        _, lang, _ = await who(user.id, user.language_code)
        # Telegram vouches only for the sender's own number (shared with the contact button).
        if message.contact.user_id != user.id:
            await say(bot, message.chat.id, t(lang, "not_own_contact"))
            return
        name = " ".join(filter(None, [message.contact.first_name, message.contact.last_name])) or user.full_name
        try:
            token = await api.link(message.contact.phone_number, user.id, name, lang)
        except ApiError as exc:
            await say(bot, message.chat.id, exc.text if exc.status < 500 else t(lang, "error"))
            return
        await state.set_token(user.id, token)
        await state.set_session(user.id, None)
        await say(bot, message.chat.id, t(lang, "linked"), reply_markup=ReplyKeyboardRemove())

    # ---- settings and menus -------------------------------------------------------------------------
    @command("lang")
    async def choose_lang(message: Message, bot: Bot) -> None:
        assert message.from_user is not None
        _, lang, _ = await who(message.from_user.id, message.from_user.language_code)
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="English", callback_data="lang:en"),
            InlineKeyboardButton(text="فارسی", callback_data="lang:fa")]])
        await say(bot, message.chat.id, t(lang, "choose_lang"), reply_markup=keyboard)

    @on_button("lang")
    async def set_lang(query: CallbackQuery, bot: Bot) -> None:
        lang = (query.data or "").split(":", 1)[1]
        if lang not in ("en", "fa"):
            lang = "en"
        await state.set_lang(query.from_user.id, lang)
        await honour_429(lambda: query.answer())
        await say(bot, query.from_user.id, t(lang, "lang_set"))

    async def linked(message: Message, bot: Bot) -> tuple[str, str, int | None] | None:
        assert message.from_user is not None
        token, lang, session_id = await who(message.from_user.id, message.from_user.language_code)
        if token is None:
            await say(bot, message.chat.id, t(lang, "link_first"))
            return None
        return token, lang, session_id

    async def linked_button(query: CallbackQuery, bot: Bot) -> tuple[str, str] | None:
        """Answers the button press (Telegram shows a spinner until then) and finds the presser's token."""
        token, lang, _ = await who(query.from_user.id, query.from_user.language_code)
        await honour_429(lambda: query.answer())
        if token is None:
            await say(bot, query.from_user.id, t(lang, "link_first"))
            return None
        return token, lang

    @command("usage")
    async def usage(message: Message, bot: Bot) -> None:
        if (me := await linked(message, bot)) is None:
            return
        token, lang, _ = me
        try:
            report = await api.call("GET", "/api/users/usage/", token, lang)
        except ApiError as exc:
            await explain(bot, message.chat.id, lang, exc, message.chat.id)
            return
        lines = [t(lang, "usage_title")]
        for limit in report.get("limits", []):
            line = t(lang, "usage_line", name=limit["name"], used=limit["used"], limit=limit["limit"])
            if limit.get("resets_in"):
                line += t(lang, "usage_resets", minutes=max(1, round(limit["resets_in"] / 60)))
            lines.append(line)
        await say(bot, message.chat.id, "\n".join(lines))

    @command("plan")
    async def plan(message: Message, bot: Bot) -> None:
        if (me := await linked(message, bot)) is None:
            return
        token, lang, _ = me
        try:
            sub = await api.call("GET", "/api/users/subscription/", token, lang)
        except ApiError as exc:
            if exc.status == 404:
                await say(bot, message.chat.id, t(lang, "no_plan", url=settings.web_app_url))
            else:
                await explain(bot, message.chat.id, lang, exc, message.chat.id)
            return
        until = t(lang, "plan_until", date=sub["end_date"][:10]) if sub.get("end_date") else ""
        await say(bot, message.chat.id, t(lang, "plan", name=sub["subscription_type"]["name"], until=until,
                                          url=settings.web_app_url))

    @command("new")
    async def new(message: Message, bot: Bot) -> None:
        if (me := await linked(message, bot)) is None:
            return
        token, lang, _ = me
        try:
            chatbots = await api.call("GET", "/api/chatbots/", token, lang)
        except ApiError as exc:
            await explain(bot, message.chat.id, lang, exc, message.chat.id)
            return
        if not chatbots:
            await say(bot, message.chat.id, t(lang, "no_chatbots"))
            return
        rows = [[InlineKeyboardButton(text=c["name"], callback_data=f"bot:{c['id']}")] for c in chatbots[:20]]
        await say(bot, message.chat.id, t(lang, "choose_chatbot"),
                  reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))

    @on_button("bot")
    async def pick_chatbot(query: CallbackQuery, bot: Bot) -> None:
        if (me := await linked_button(query, bot)) is None:
            return
        token, lang = me
        chatbot_id = int((query.data or "0").split(":")[1])
        try:
            chatbot = await api.call("GET", f"/api/chatbots/{chatbot_id}/", token, lang)
            models = await api.call("GET", "/api/ai-models/", token, lang)
        except ApiError as exc:
            await explain(bot, query.from_user.id, lang, exc, query.from_user.id)
            return
        fitting = [m for m in models if m["model_type"] == chatbot["chatbot_type"]]
        if not fitting:
            await say(bot, query.from_user.id, t(lang, "no_models"))
            return
        rows = [[InlineKeyboardButton(text=m["name"], callback_data=f"model:{chatbot_id}:{m['id']}")]
                for m in fitting[:20]]
        await say(bot, query.from_user.id, t(lang, "choose_model"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))

    @on_button("model")
    async def pick_model(query: CallbackQuery, bot: Bot) -> None:
        if (me := await linked_button(query, bot)) is None:
            return
        token, lang = me
        _, chatbot_id, model_pk = (query.data or "").split(":")
        try:
            model = await api.call("GET", f"/api/ai-models/{int(model_pk)}/", token, lang)
            session = await api.call("POST", "/api/chat-sessions/", token, lang,
                                     json={"chatbot_id": int(chatbot_id), "ai_model_id": model["model_id"]})
        except ApiError as exc:
            await explain(bot, query.from_user.id, lang, exc, query.from_user.id)
            return
        await state.set_session(query.from_user.id, session["id"])
        await say(bot, query.from_user.id, t(lang, "new_chat", chatbot=session["chatbot"]["name"],
                                             model=session["ai_model"]["name"]))

    @command("chats")
    async def chats(message: Message, bot: Bot) -> None:
        if (me := await linked(message, bot)) is None:
            return
        token, lang, current = me
        try:
            sessions = await api.call("GET", "/api/chat-sessions/", token, lang)
        except ApiError as exc:
            await explain(bot, message.chat.id, lang, exc, message.chat.id)
            return
        if isinstance(sessions, dict):
            sessions = sessions.get("results", [])
        if not sessions:
            await say(bot, message.chat.id, t(lang, "no_chats"))
            return
        rows = [[InlineKeyboardButton(text=("• " if s["id"] == current else "") + s["title"][:60],
                                      callback_data=f"chat:{s['id']}")] for s in sessions[:RECENT_CHATS]]
        await say(bot, message.chat.id, t(lang, "your_chats"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))

    @on_button("chat")
    async def switch_chat(query: CallbackQuery, bot: Bot) -> None:
        if (me := await linked_button(query, bot)) is None:
            return
        token, lang = me
        session_id = int((query.data or "0").split(":")[1])
        try:
            session = await api.call("GET", f"/api/chat-sessions/{session_id}/", token, lang)
        except ApiError as exc:
            await explain(bot, query.from_user.id, lang, exc, query.from_user.id)
            return
        await state.set_session(query.from_user.id, session["id"])
        await say(bot, query.from_user.id, t(lang, "switched", title=session["title"]))

    # ---- the conversation ---------------------------------------------------------------------------
    async def current_session(token: str, lang: str, user_id: int, session_id: int | None) -> int:
        if session_id is not None:
            return session_id
        chatbots = await api.call("GET", "/api/chatbots/", token, lang)
        text_bots = [c for c in chatbots if c.get("chatbot_type") == "text"] or chatbots
        if not text_bots:
            raise ApiError(403, {"error": t(lang, "no_chatbots")})
        session = await api.call("POST", "/api/chat-sessions/", token, lang, json={"chatbot_id": text_bots[0]["id"]})
        await state.set_session(user_id, session["id"])
        return session["id"]

    async def run_reply(bot: Bot, chat_id: int, token: str, lang: str, session_id: int,
                        start: Callable[[], Awaitable[Any]]) -> Any:
        async with deps.lock(chat_id):
            return await follow_reply(api, state, bot, token=token, lang=lang, chat_id=chat_id, session_id=session_id,
                                      start=start, interval=settings.edit_interval_seconds,
                                      idle_seconds=settings.reply_idle_seconds, public_api_url=settings.mobix_api_url)

    @on_message(new_message & filters.TEXT & ~filters.COMMAND)
    async def chat(message: Message, bot: Bot) -> None:
        if (me := await linked(message, bot)) is None:
            return
        token, lang, session_id = me
        assert message.from_user is not None and message.text is not None
        user_id = message.from_user.id
        try:
            session_id = await current_session(token, lang, user_id, session_id)

            async def send() -> Any:
                sent = await api.call("POST", f"/api/chat-sessions/{session_id}/send/", token, lang,
                                      json={"message": message.text},
                                      headers={"Idempotency-Key": f"tg-{message.chat.id}-{message.message_id}"})
                await state.remember_message(message.chat.id, message.message_id, session_id,
                                             sent["user_message"]["message_id"])
                return sent

            await run_reply(bot, message.chat.id, token, lang, session_id, send)
        except ApiError as exc:
            if exc.status == 404:  # the current session was deleted elsewhere: the next message starts one
                await state.set_session(user_id, None)
            await explain(bot, message.chat.id, lang, exc, user_id)

    @on_message(filters.UpdateType.EDITED_MESSAGE & filters.TEXT)
    async def edited(message: Message, bot: Bot) -> None:
        if (me := await linked(message, bot)) is None:
            return
        token, lang, _ = me
        assert message.text is not None
        known = await state.mobix_message(message.chat.id, message.message_id)
        if known is None:
            await say(bot, message.chat.id, t(lang, "edit_not_found"))
            return
        session_id, message_id = known

        async def edit() -> Any:
            return await api.call("POST", f"/api/chat-sessions/{session_id}/messages/{message_id}/edit/", token, lang,
                                  json={"content": message.text})

        try:
            await run_reply(bot, message.chat.id, token, lang, session_id, edit)
        except ApiError as exc:
            await explain(bot, message.chat.id, lang, exc, message.chat.id)

    @on_button("stop")
    async def stop(query: CallbackQuery, bot: Bot) -> None:
        token, lang, _ = await who(query.from_user.id, query.from_user.language_code)
        session_id = int((query.data or "0").split(":")[1])
        if token is None:
            await honour_429(lambda: query.answer(t(lang, "link_first")))
            return
        try:
            await api.call("POST", f"/api/chat-sessions/{session_id}/stop/", token, lang)
            note = t(lang, "stopped")
        except ApiError as exc:
            note = t(lang, "nothing_to_stop") if exc.status == 409 else exc.text
        await honour_429(lambda: query.answer(note))

    @on_button("regen")
    async def regenerate(query: CallbackQuery, bot: Bot) -> None:
        if (me := await linked_button(query, bot)) is None:
            return
        token, lang = me
        session_id = int((query.data or "0").split(":")[1])

        async def regen() -> Any:
            return await api.call("POST", f"/api/chat-sessions/{session_id}/regenerate/", token, lang)

        try:
            await run_reply(bot, query.from_user.id, token, lang, session_id, regen)
        except ApiError as exc:
            await explain(bot, query.from_user.id, lang, exc, query.from_user.id)

    return handlers
