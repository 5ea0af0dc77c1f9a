"""Pluggable SMS delivery of one-time codes. `console` (development only) writes the code to the log."""

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class SmsProvider(Protocol):
    async def send_code(self, phone_number: str, code: str) -> None:
        """Deliver a login code; raise if it could not be sent."""
        ...


class ConsoleSmsProvider:
    async def send_code(self, phone_number: str, code: str) -> None:
        log.warning("SMS to %s: your MobixAI login code is %s (console provider: development only)",
                    phone_number, code)


PROVIDERS: dict[str, type] = {"console": ConsoleSmsProvider}


def make_sms_provider(name: str) -> SmsProvider:
    try:
        return PROVIDERS[name.strip().lower()]()
    except KeyError:
        raise SystemExit(f"SMS_PROVIDER={name!r} is not one of {sorted(PROVIDERS)}") from None
