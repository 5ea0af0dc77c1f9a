"""Linking a Telegram account (issue 15): the bot's own route, not a user's.

The Telegram bot (services/telegram-bot) is a client of this API like any other, with one API token
per Telegram user. It gets that token here: Telegram vouched for the phone (the user shared their own
contact, `contact.user_id == from.id`), so the account of that phone is found or created, verified,
and a new token named for the bot is issued. Only the bot's service credential
(`TELEGRAM_BOT_SERVICE_TOKEN`, header `X-Service-Token`, compared in constant time) may call it: anyone
else holding it could take over any phone's account. A new link replaces the previous token of the same
Telegram user, so relinking never piles up tokens.
"""

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyHeader
from pydantic import Field

from gateway.deps import runtime
from gateway.errors import InvalidToken, NotAuthenticated
from gateway.routes.tokens import NewApiToken
from gateway.schemas import Body, DetailBody, Phone, conflict

SERVICE_HEADER = "X-Service-Token"
SCHEME = "telegramBot"
router = APIRouter(prefix="/api/auth/telegram", tags=["telegram"])

service_token = APIKeyHeader(
    name=SERVICE_HEADER, auto_error=False, scheme_name=SCHEME,
    description="The Telegram bot's service credential (`TELEGRAM_BOT_SERVICE_TOKEN`). No user may call "
    "these routes.",
)


def token_name(telegram_user_id: int) -> str:
    return f"telegram bot ({telegram_user_id})"


async def require_bot(request: Request, sent: Annotated[str | None, Depends(service_token)]) -> None:
    if not sent:
        raise NotAuthenticated()
    expected = runtime(request).settings.telegram_bot_service_token
    # Unset: nobody is the bot. Compared in constant time, like every secret.
    if expected is None or not hmac.compare_digest(sent.encode(), expected.get_secret_value().encode()):
        raise InvalidToken()


class TelegramLinkBody(Body):
    phone_number: Phone = Field(description="The phone of the contact the user shared, as Telegram sent it "
                                "(with or without `+`)")
    telegram_user_id: int = Field(ge=1, le=2**53, examples=[123456789],
                                  description="`from.id` of the user, equal to the contact's `user_id`")
    name: str = Field("", max_length=256, description="Name for a new account (the contact's first and last "
                      "name); an existing account keeps its own")


@router.post(
    "/link/", status_code=201, response_model=NewApiToken, dependencies=[Depends(require_bot)],
    summary="Link a Telegram user to the account of their phone (the bot's service credential only)",
    responses={401: {"model": DetailBody, "description": "No or a wrong service credential"},
               **conflict("Too many tokens (`code`: too_many_tokens)")},
)
async def link_telegram(body: TelegramLinkBody, request: Request) -> NewApiToken:
    rt = runtime(request)
    user = await rt.auth.link_telegram(body.phone_number, body.name)
    assert user.id is not None
    name = token_name(body.telegram_user_id)
    await rt.tokens.revoke_named(user.id, name)  # the previous link's token dies with the new link
    return NewApiToken.of(await rt.tokens.issue(user.id, name))
