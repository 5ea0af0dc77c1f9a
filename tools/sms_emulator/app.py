"""The SMS emulator's HTTP app.

Kavenegar's side (what the gateway's `KavenegarSmsProvider` calls in production):
- `POST|GET /v1/{api_key}/verify/lookup.json` with `receptor`, `token`, `template` (form or query):
  the template's text with `%token%` replaced is "sent" to the receptor.
- `POST|GET /v1/{api_key}/sms/send.json` with `receptor` (comma-separated), `message`, `sender`.
Answers as Kavenegar does: `{"return": {"status", "message"}, "entries": [...]}`, HTTP status equal
to `return.status` (200, 400 for a missing or bad field, 401 for a wrong key).

The developers' and tests' side:
- `GET /messages?phone=<E.164>`: `[{"phone", "text", "code", "sent_at"}]`, oldest first (every
  message without `phone`). `code` is the verify token (null for a plain message).
- `DELETE /messages`: forget everything.
- `POST /control/fail` `{"count": n}`: answer the next n sends with Kavenegar's "server error"
  (status 500), to exercise the gateway's failure path.
"""

import itertools
import logging
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import phonenumbers
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sms_emulator.settings import SmsEmulatorSettings

log = logging.getLogger(__name__)
SENDER = "10008663"  # Kavenegar's shared line for verify lookups


class Message(BaseModel):
    phone: str
    text: str
    code: str | None
    sent_at: str


class FailBody(BaseModel):
    count: int = Field(1, ge=0, le=10_000)


def _answer(status: int, message: str, entries: list[dict] | None = None) -> JSONResponse:
    return JSONResponse({"return": {"status": status, "message": message}, "entries": entries}, status_code=status)


def create_app(settings: SmsEmulatorSettings | None = None) -> FastAPI:
    settings = settings or SmsEmulatorSettings()
    app = FastAPI(title="SMS emulator (Kavenegar REST API)", docs_url=None, redoc_url=None, openapi_url=None)
    messages: deque[Message] = deque(maxlen=settings.memory)
    ids = itertools.count(int(time.time()))
    failures = {"left": 0}

    def e164(receptor: str) -> str | None:
        try:
            number = phonenumbers.parse(receptor if receptor.startswith(("+", "0")) else "+" + receptor,
                                        settings.default_region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    async def fields(request: Request) -> dict[str, str]:
        # Kavenegar takes query parameters or an urlencoded form (parsed here: no multipart dependency).
        values = dict(request.query_params)
        if request.method == "POST":
            values.update(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        return values

    def deliver(api_key: str, receptors: list[str], text: str, code: str | None) -> JSONResponse:
        if settings.api_key and api_key != settings.api_key:
            return _answer(401, "apikey معتبر نیست")
        if failures["left"] > 0:
            failures["left"] -= 1
            return _answer(500, "خطای غیر منتظره")
        phones = [e164(r.strip()) for r in receptors if r.strip()]
        if not phones or None in phones:
            return _answer(400, "receptor معتبر نیست")
        now = datetime.now(UTC)
        entries = []
        for phone in phones:
            assert phone is not None
            messages.append(Message(phone=phone, text=text, code=code, sent_at=now.isoformat().replace("+00:00", "Z")))
            log.info("SMS to %s: %s", phone, text)
            entries.append({"messageid": next(ids), "message": text, "status": 5, "statustext": "ارسال به مخابرات",
                            "sender": SENDER, "receptor": phone.removeprefix("+"), "date": int(now.timestamp()),
                            "cost": 120})
        return _answer(200, "تایید شد", entries)

    @app.api_route("/v1/{api_key}/verify/lookup.json", methods=["GET", "POST"])
    async def verify_lookup(api_key: str, request: Request) -> JSONResponse:
        form = await fields(request)
        receptor, token, template = form.get("receptor", ""), form.get("token", ""), form.get("template", "")
        if not token or not template or " " in token:
            return _answer(400, "token یا template معتبر نیست")
        return deliver(api_key, [receptor], settings.template_text.replace("%token%", token), token)

    @app.api_route("/v1/{api_key}/sms/send.json", methods=["GET", "POST"])
    async def send(api_key: str, request: Request) -> JSONResponse:
        form = await fields(request)
        if not form.get("message"):
            return _answer(400, "message خالی است")
        return deliver(api_key, form.get("receptor", "").split(","), form["message"], None)

    @app.get("/messages", response_model=list[Message])
    async def sent(phone: str | None = None) -> Any:
        return [m for m in messages if phone is None or m.phone == phone]

    @app.delete("/messages", status_code=204)
    async def forget() -> None:
        messages.clear()

    @app.post("/control/fail")
    async def fail_next(body: FailBody) -> dict:
        failures["left"] = body.count
        return {"failing_next": body.count}

    return app
