"""Pluggable SMS delivery of one-time codes.

`kavenegar` speaks Kavenegar's REST API (https://kavenegar.com/rest.html), the "verify lookup" call
made for one-time codes: `POST {SMS_BASE_URL}/v1/{SMS_API_KEY}/verify/lookup.json` with the form
fields `receptor`, `token` and `template` (a template approved in the Kavenegar panel, whose
`%token%` becomes the code). Its answer is `{"return": {"status", "message"}, "entries": [...]}`;
anything but status 200 is a failure. With no key, `make run` and the test `System` point
`SMS_BASE_URL` at the project's emulator (tools/sms_emulator), which speaks the same protocol.
`console` (development only) writes the code to the log.
"""

import logging
from typing import Protocol

import httpx

log = logging.getLogger(__name__)


class SmsProvider(Protocol):
    async def send_code(self, phone_number: str, code: str) -> None:
        """Deliver a login code; raise if it could not be sent."""
        ...


class SmsFailed(Exception):
    """The provider refused or could not be reached; no code went out."""


class ConsoleSmsProvider:
    async def send_code(self, phone_number: str, code: str) -> None:
        log.warning("SMS to %s: your MobixAI login code is %s (console provider: development only)",
                    phone_number, code)


class KavenegarSmsProvider:
    def __init__(self, base_url: str, api_key: str, template: str, timeout_seconds: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.template = template
        self.timeout = timeout_seconds

    async def send_code(self, phone_number: str, code: str) -> None:
        # The key is part of Kavenegar's URL: never log the URL.
        url = f"{self.base_url}/v1/{self._api_key}/verify/lookup.json"
        form = {"receptor": receptor(phone_number), "token": code, "template": self.template}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.post(url, data=form)
            body = response.json()
            status = int(body["return"]["status"])
            reason = body["return"].get("message")
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise SmsFailed(f"Kavenegar unreachable or answered garbage: {type(exc).__name__}") from None
        if response.status_code != 200 or status != 200:
            raise SmsFailed(f"Kavenegar refused the message: HTTP {response.status_code}, status {status} ({reason})")


def receptor(phone_number: str) -> str:
    """Kavenegar's receptor: the number in international digits without `+` (`989121234567`)."""
    return phone_number.removeprefix("+")


PROVIDERS = ("kavenegar", "console")


KAVENEGAR_URL = "https://api.kavenegar.com"


def make_sms_provider(name: str, *, base_url: str, api_key: str | None, template: str,
                      production: bool, timeout_seconds: float = 10.0) -> SmsProvider:
    """Kavenegar when it has somewhere to send: a key, or another base URL (the SMS emulator, which
    needs none); otherwise the console outside production. Production never writes codes to a log."""
    name = name.strip().lower()
    if name not in PROVIDERS:
        raise SystemExit(f"SMS_PROVIDER={name!r} is not one of {list(PROVIDERS)}")
    real_gateway = base_url.rstrip("/") == KAVENEGAR_URL
    if name == "kavenegar" and (api_key or not real_gateway):
        return KavenegarSmsProvider(base_url, api_key or "no-key", template, timeout_seconds)
    if production:
        raise SystemExit("In production login codes must go out by SMS: set SMS_API_KEY (SMS_PROVIDER=kavenegar)")
    log.warning("no SMS_API_KEY: login codes are written to this log instead of being sent")
    return ConsoleSmsProvider()
