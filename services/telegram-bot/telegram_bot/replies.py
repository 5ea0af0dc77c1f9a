"""A reply streaming into Telegram: the bot's message is edited as the text grows, at most once per
TELEGRAM_EDIT_INTERVAL_SECONDS (Telegram limits edits per chat), rendered as HTML and split at 4096
characters; the last edit is exactly the stored reply. A 429 from Telegram is waited out for its
`retry_after` before the call is made again."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, RetryAfter

from telegram_bot import metrics
from telegram_bot.api import ApiError, MobixApi
from telegram_bot.render import render_parts
from telegram_bot.state import BotState
from telegram_bot.texts import t

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_RETRIES = 5


async def honour_429(call: Callable[[], Awaitable[T]]) -> T:
    """Make a Bot API call; on Telegram's 429, wait `retry_after` seconds and make it again."""
    for attempt in range(MAX_RETRIES + 1):
        try:
            return await call()
        except RetryAfter as exc:
            if attempt == MAX_RETRIES:
                raise
            metrics.TELEGRAM_429.inc()
            wait = seconds(exc.retry_after)
            log.info("Telegram said 429: waiting %s s", wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def seconds(value: Any) -> float:
    # python-telegram-bot gives an int, or a timedelta when PTB_TIMEDELTA is set.
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def reply_buttons(lang: str, session_id: int, streaming: bool) -> InlineKeyboardMarkup:
    if streaming:
        button = InlineKeyboardButton(text=t(lang, "stop"), callback_data=f"stop:{session_id}")
    else:
        button = InlineKeyboardButton(text=t(lang, "regenerate"), callback_data=f"regen:{session_id}")
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


class ReplyView:
    """The Telegram messages that show one reply."""

    def __init__(self, bot: Bot, chat_id: int, lang: str, session_id: int, interval: float) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.lang = lang
        self.session_id = session_id
        self.interval = interval
        self.message_ids: list[int] = []
        self.shown: list[tuple[str, bool]] = []  # (html, has buttons) of each message
        self.last_edit = 0.0
        self.edits = 0

    async def open(self) -> None:
        sent = await honour_429(lambda: self.bot.send_message(
            self.chat_id, t(self.lang, "thinking"), reply_markup=reply_buttons(self.lang, self.session_id, True)))
        self.message_ids.append(sent.message_id)
        self.shown.append((t(self.lang, "thinking"), True))

    async def show(self, markdown: str, *, final: bool) -> None:
        parts = render_parts(markdown)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            markup = reply_buttons(self.lang, self.session_id, streaming=not final) if last else None
            if index < len(self.message_ids):
                if self.shown[index] == (part, markup is not None) and not (last and final):
                    continue
                await self._edit(index, part, markup)
            else:
                sent = await honour_429(lambda p=part, m=markup: self.bot.send_message(
                    self.chat_id, p, parse_mode="HTML", reply_markup=m))
                self.message_ids.append(sent.message_id)
                self.shown.append((part, markup is not None))
        self.last_edit = time.monotonic()

    async def _edit(self, index: int, part: str, markup: InlineKeyboardMarkup | None) -> None:
        try:
            await honour_429(lambda: self.bot.edit_message_text(
                part, chat_id=self.chat_id, message_id=self.message_ids[index], parse_mode="HTML",
                reply_markup=markup))
            self.edits += 1
            metrics.EDITS.inc()
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise
        self.shown[index] = (part, markup is not None)

    def due(self) -> bool:
        return time.monotonic() - self.last_edit >= self.interval

    async def photo(self, url: str) -> None:
        # Uploaded, not passed as a URL: Telegram could not fetch a private gateway's media.
        async with httpx.AsyncClient(timeout=30) as http:
            image = (await http.get(url)).raise_for_status().content
        await honour_429(lambda: self.bot.send_photo(self.chat_id, photo=image))


async def follow_reply(api: MobixApi, state: BotState, bot: Bot, *, token: str, lang: str, chat_id: int,
                       session_id: int, start: Callable[[], Awaitable[Any]], interval: float,
                       idle_seconds: float, public_api_url: str) -> Any:
    """Open the session's event stream, then `start` the reply (send, edit or regenerate), and show it
    as it streams. Returns what `start` returned."""
    started: Any = None
    view = ReplyView(bot, chat_id, lang, session_id, interval)
    text = ""
    attempt = 1
    stream = api.stream(token, lang, session_id, idle_seconds)
    try:
        async for event in stream:
            if event.name == "ready":
                # Connected before the reply exists: none of its events can be missed.
                started = await start()
                await view.open()
            elif event.name == "reply.delta":
                if event.data.get("attempt", 1) != attempt:  # the worker retried: the text starts over
                    attempt, text = event.data.get("attempt", 1), ""
                text += event.data.get("delta", "")
                if view.due() and text.strip():
                    await view.show(text, final=False)
            elif event.name == "reply.completed":
                await finish(view, state, event.data, public_api_url)
                return started
            elif event.name == "reply.failed":
                await view.show(t(lang, "reply_failed", error=event.data.get("error", "")), final=True)
                return started
    except (TimeoutError, ApiError) as exc:
        if started is None:
            raise
        log.warning("the reply stream of session %s ended early (%s); reading the stored reply", session_id, exc)
    except Exception as exc:
        if started is None:
            raise
        log.warning("the reply stream of session %s broke (%s); reading the stored reply", session_id, exc)
    finally:
        await stream.aclose()
    # The stream went quiet or broke: the message list has the reply as stored.
    listed = await api.call("GET", f"/api/chat-sessions/{session_id}/messages/", token, lang, params={"limit": 1})
    messages = listed.get("messages", [])
    if messages and messages[-1].get("message_type") == "assistant":
        await finish(view, state, messages[-1], public_api_url)
    return started


async def finish(view: ReplyView, state: BotState, message: dict[str, Any], public_api_url: str) -> None:
    """The reply as stored: the last edit shows exactly it, with the regenerate button; images follow."""
    content = message.get("content") or ""
    images = [u.strip() for u in (message.get("image_url") or "").split(",") if u.strip()]
    if content.strip() or not images:
        await view.show(content or "…", final=True)
    else:
        await view.show("🖼", final=True)
    for url in images:
        await view.photo(url if url.startswith("http") else public_api_url.rstrip("/") + url)
    metrics.REPLIES.inc()
    metrics.EDITS_PER_REPLY.observe(view.edits)
    for telegram_id in view.message_ids:
        await state.remember_message(view.chat_id, telegram_id, view.session_id, str(message.get("message_id")))
