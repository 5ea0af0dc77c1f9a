"""The emulator's HTTP app: the Bot API for the bot, `/emulator/*` for tests (the user's side)."""

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from telegram_emulator.settings import TelegramEmulatorSettings

log = logging.getLogger(__name__)
# Parameters Telegram takes as JSON-serialized objects when sent as form fields.
JSON_FIELDS = {"reply_markup", "entities", "allowed_updates", "link_preview_options", "reply_parameters",
               "commands", "caption_entities"}
MAX_TEXT = 4096
BOT_ID = 123456


@dataclass
class SentMessage:
    """A message the bot sent, with every version of its text (the first, then each edit)."""

    chat_id: int
    message_id: int
    kind: str  # "text" | "photo"
    versions: list[str]
    parse_mode: str | None
    reply_markup: Any
    sent_at: float
    edited_at: list[float] = field(default_factory=list)
    photo: str | None = None
    caption: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "message_id": self.message_id, "kind": self.kind, "text": self.versions[-1],
                "versions": self.versions, "edits": len(self.versions) - 1, "parse_mode": self.parse_mode,
                "reply_markup": self.reply_markup, "sent_at": self.sent_at, "edited_at": self.edited_at,
                "photo": self.photo, "caption": self.caption}


@dataclass
class World:
    settings: TelegramEmulatorSettings
    # Telegram's update ids only grow; a restarted emulator must not reuse the last run's (bots remember
    # the ids they handled): start from the clock, in milliseconds, within 31 bits.
    next_update_id: int = field(default_factory=lambda: int(time.time() * 1000) % 2**31)
    next_message_id: dict[int, int] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)  # for getUpdates
    delivered: dict[int, dict[str, Any]] = field(default_factory=dict)  # every update, by id
    webhook_url: str | None = None
    webhook_secret: str | None = None
    sent: dict[tuple[int, int], SentMessage] = field(default_factory=dict)
    user_messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)  # every Bot API call: method, time, ok
    failures: dict[str, list[int]] = field(default_factory=dict)  # method -> retry_after of each 429 to come
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def message_id(self, chat_id: int) -> int:
        self.next_message_id[chat_id] = self.next_message_id.get(chat_id, 0) + 1
        return self.next_message_id[chat_id]


def ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def error(code: int, description: str, **parameters: Any) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


def chat_of(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private"}


def bot_user(settings: TelegramEmulatorSettings) -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "MobixAI", "username": settings.bot_username}


async def read_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        if body:
            params.update(json.loads(body))
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                params[key] = f"upload:{value.filename}:{len(await value.read())}"
            elif key in JSON_FIELDS:
                params[key] = json.loads(value)
            else:
                params[key] = value
    # A file sent as `photo=attach://<field>` travels in that multipart field.
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = params.get(value.removeprefix("attach://"), value)
    return params


def create_app(settings: TelegramEmulatorSettings) -> FastAPI:
    app = FastAPI(title="Telegram Bot API emulator", docs_url=None, redoc_url=None)
    world = World(settings)
    app.state.world = world
    http = httpx.AsyncClient(timeout=30)
    background: set[asyncio.Task] = set()

    # ---- updates: queued for getUpdates, or POSTed to the webhook in order ---------------------------
    deliveries: asyncio.Queue[dict[str, Any]] | None = None

    async def deliver_forever() -> None:
        assert deliveries is not None
        while True:
            update = await deliveries.get()
            for _attempt in range(settings.webhook_attempts):
                url, secret = world.webhook_url, world.webhook_secret
                if url is None:  # the webhook was deleted meanwhile: getUpdates gets it
                    await enqueue(update)
                    break
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
                try:
                    answer = await http.post(url, json=update, headers=headers)
                    if answer.is_success:
                        break
                    log.warning("webhook answered %s for update %s", answer.status_code, update["update_id"])
                except httpx.HTTPError as exc:
                    log.warning("webhook unreachable for update %s: %s", update["update_id"], exc)
                await asyncio.sleep(settings.webhook_retry_seconds)

    async def enqueue(update: dict[str, Any]) -> None:
        async with world.arrived:
            world.pending.append(update)
            world.arrived.notify_all()

    async def dispatch(update: dict[str, Any]) -> None:
        nonlocal deliveries
        world.delivered[update["update_id"]] = update
        if world.webhook_url is None:
            await enqueue(update)
            return
        if deliveries is None:
            deliveries = asyncio.Queue()
            task = asyncio.create_task(deliver_forever())
            background.add(task)
        await deliveries.put(update)

    # ---- the Bot API ----------------------------------------------------------------------------------
    @app.api_route("/bot{token}/{method}", methods=["GET", "POST"])
    async def bot_api(token: str, method: str, request: Request) -> JSONResponse:
        if token != settings.bot_token:
            return error(401, "Unauthorized")
        params = await read_params(request)
        name = method.lower()
        world.calls.append({"method": method, "at": time.time(), "params": params})
        waiting = world.failures.get(name)
        if waiting:
            retry_after = waiting.pop(0)
            world.calls[-1]["refused"] = retry_after
            return error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        handler = METHODS.get(name)
        if handler is None:
            return error(404, "Not Found")
        try:
            return await handler(params)
        except (KeyError, ValueError, TypeError) as exc:
            return error(400, f"Bad Request: {exc}")

    async def get_me(params: dict[str, Any]) -> JSONResponse:
        return ok(bot_user(settings))

    async def get_updates(params: dict[str, Any]) -> JSONResponse:
        if world.webhook_url is not None:
            return error(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                         "to delete the webhook first")
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 50)
        limit = int(params.get("limit") or 100)
        async with world.arrived:
            if offset:
                world.pending = [u for u in world.pending if u["update_id"] >= offset]  # confirmed ones go
            if not world.pending and timeout:
                try:
                    await asyncio.wait_for(world.arrived.wait_for(lambda: bool(world.pending)), timeout)
                except TimeoutError:
                    pass
            return ok(world.pending[:limit])

    async def set_webhook(params: dict[str, Any]) -> JSONResponse:
        url = params.get("url") or None
        world.webhook_url = url
        world.webhook_secret = params.get("secret_token") or None
        if url and world.pending:  # what getUpdates had not confirmed goes to the webhook
            pending, world.pending = world.pending, []
            for update in pending:
                await dispatch(update)
        return ok(True)

    async def delete_webhook(params: dict[str, Any]) -> JSONResponse:
        world.webhook_url = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            world.pending = []
        return ok(True)

    async def get_webhook_info(params: dict[str, Any]) -> JSONResponse:
        return ok({"url": world.webhook_url or "", "has_custom_certificate": False,
                   "pending_update_count": len(world.pending)})

    def check_text(text: str) -> JSONResponse | None:
        if not text.strip():
            return error(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return error(400, "Bad Request: message is too long")
        return None

    def message_json(sent: SentMessage) -> dict[str, Any]:
        body: dict[str, Any] = {"message_id": sent.message_id, "date": int(sent.sent_at), "chat": chat_of(sent.chat_id),
                                "from": bot_user(settings)}
        if sent.kind == "photo":
            body["photo"] = [{"file_id": f"photo-{sent.message_id}", "file_unique_id": f"p{sent.message_id}",
                              "width": 512, "height": 512}]
            if sent.caption:
                body["caption"] = sent.caption
        else:
            body["text"] = sent.versions[-1]
        if sent.reply_markup:
            body["reply_markup"] = sent.reply_markup
        if sent.edited_at:
            body["edit_date"] = int(sent.edited_at[-1])
        return body

    async def send_message(params: dict[str, Any]) -> JSONResponse:
        chat_id = int(params["chat_id"])
        text = str(params.get("text", ""))
        if (refused := check_text(text)) is not None:
            return refused
        sent = SentMessage(chat_id, world.message_id(chat_id), "text", [text], params.get("parse_mode"),
                           params.get("reply_markup"), time.time())
        world.sent[(chat_id, sent.message_id)] = sent
        return ok(message_json(sent))

    async def send_photo(params: dict[str, Any]) -> JSONResponse:
        chat_id = int(params["chat_id"])
        photo = str(params["photo"])
        sent = SentMessage(chat_id, world.message_id(chat_id), "photo", [params.get("caption", "")],
                           params.get("parse_mode"), params.get("reply_markup"), time.time(), photo=photo,
                           caption=params.get("caption"))
        world.sent[(chat_id, sent.message_id)] = sent
        return ok(message_json(sent))

    async def edit_message_text(params: dict[str, Any]) -> JSONResponse:
        chat_id = int(params["chat_id"])
        sent = world.sent.get((chat_id, int(params["message_id"])))
        if sent is None or sent.kind != "text":
            return error(400, "Bad Request: message to edit not found")
        text = str(params.get("text", ""))
        if (refused := check_text(text)) is not None:
            return refused
        markup = params.get("reply_markup")
        if text == sent.versions[-1] and markup == sent.reply_markup:
            return error(400, "Bad Request: message is not modified: specified new message content and reply "
                         "markup are exactly the same as a current content and reply markup of the message")
        if text != sent.versions[-1]:
            sent.versions.append(text)
            sent.edited_at.append(time.time())
        sent.reply_markup = markup
        sent.parse_mode = params.get("parse_mode")
        return ok(message_json(sent))

    async def edit_message_reply_markup(params: dict[str, Any]) -> JSONResponse:
        sent = world.sent.get((int(params["chat_id"]), int(params["message_id"])))
        if sent is None:
            return error(400, "Bad Request: message to edit not found")
        sent.reply_markup = params.get("reply_markup")
        return ok(message_json(sent))

    async def answer_callback_query(params: dict[str, Any]) -> JSONResponse:
        world.callback_answers.append(params)
        return ok(True)

    async def accept(params: dict[str, Any]) -> JSONResponse:
        return ok(True)

    METHODS = {
        "getme": get_me, "getupdates": get_updates, "setwebhook": set_webhook, "deletewebhook": delete_webhook,
        "getwebhookinfo": get_webhook_info, "sendmessage": send_message, "sendphoto": send_photo,
        "editmessagetext": edit_message_text, "editmessagereplymarkup": edit_message_reply_markup,
        "answercallbackquery": answer_callback_query, "sendchataction": accept, "setmycommands": accept,
        "deletemessage": accept, "close": accept, "logout": accept,
    }

    # ---- the user's side, for tests ----------------------------------------------------------------
    class UserUpdate(BaseModel):
        kind: str  # "message" | "contact" | "callback" | "edited"
        user_id: int
        first_name: str = "Test"
        language_code: str | None = "en"
        text: str | None = None
        phone_number: str | None = None
        contact_user_id: int | None = None  # whose contact it is (default: the sender's own)
        message_id: int | None = None  # callback: the bot's message; edited: the user's message
        data: str | None = None  # callback data

    @app.post("/emulator/updates")
    async def post_update(body: UserUpdate) -> dict[str, Any]:
        user = {"id": body.user_id, "is_bot": False, "first_name": body.first_name}
        if body.language_code:
            user["language_code"] = body.language_code
        chat_id = body.user_id  # private chats have the user's id
        world.next_update_id += 1
        update: dict[str, Any] = {"update_id": world.next_update_id}
        now = int(time.time())
        if body.kind in ("message", "contact"):
            message: dict[str, Any] = {"message_id": world.message_id(chat_id), "date": now, "chat": chat_of(chat_id),
                                       "from": user}
            if body.kind == "contact":
                message["contact"] = {"phone_number": body.phone_number or "", "first_name": body.first_name,
                                      "user_id": body.contact_user_id if body.contact_user_id is not None
                                      else body.user_id}
            else:
                message["text"] = body.text or ""
                if message["text"].startswith("/"):
                    command = message["text"].split()[0]
                    message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
            world.user_messages[(chat_id, message["message_id"])] = message
            update["message"] = message
        elif body.kind == "edited":
            original = world.user_messages[(chat_id, int(body.message_id or 0))]
            edited = {**original, "text": body.text or "", "edit_date": now}
            world.user_messages[(chat_id, edited["message_id"])] = edited
            update["edited_message"] = edited
        elif body.kind == "callback":
            sent = world.sent[(chat_id, int(body.message_id or 0))]
            update["callback_query"] = {"id": f"cb{world.next_update_id}", "from": user, "chat_instance": str(chat_id),
                                        "message": message_json(sent), "data": body.data or ""}
        else:
            raise ValueError(f"unknown kind {body.kind}")
        await dispatch(update)
        message_id = (update.get("message") or update.get("edited_message") or {}).get("message_id")
        return {"update_id": update["update_id"], "message_id": message_id}

    @app.post("/emulator/updates/{update_id}/redeliver")
    async def redeliver(update_id: int) -> dict[str, Any]:
        """Telegram delivers an update again when it saw no answer (a timeout, a restart)."""
        await dispatch(world.delivered[update_id])
        return {"update_id": update_id}

    @app.get("/emulator/chats/{chat_id}/messages")
    async def bot_messages(chat_id: int) -> list[dict[str, Any]]:
        return [m.as_json() for (chat, _), m in sorted(world.sent.items()) if chat == chat_id]

    @app.get("/emulator/callback-answers")
    async def callback_answers() -> list[dict[str, Any]]:
        return world.callback_answers

    @app.get("/emulator/calls")
    async def calls(method: str | None = None) -> list[dict[str, Any]]:
        return [c for c in world.calls if method is None or c["method"].lower() == method.lower()]

    class Failure(BaseModel):
        method: str
        retry_after: int = 1
        times: int = 1

    @app.post("/emulator/failures")
    async def inject(body: Failure) -> dict[str, Any]:
        """The next `times` calls of `method` get Telegram's 429 with `retry_after`."""
        world.failures.setdefault(body.method.lower(), []).extend([body.retry_after] * body.times)
        return {"method": body.method, "pending": len(world.failures[body.method.lower()])}

    @app.get("/emulator/webhook")
    async def webhook() -> dict[str, Any]:
        return {"url": world.webhook_url}

    return app
