"""API tokens (api.md §2): get one by logging in, list, create and revoke your own.

`POST /api/auth/token/` is public (a login by password or code, throttled as login is); the others
need a logged-in caller, by cookie or by token. The secret is in the 201 answer only.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gateway.deps import CurrentUser, runtime
from gateway.schemas import LIMIT_RESPONSE, Body, DetailBody, PathId, Phone, conflict
from gateway.tokens import IssuedToken, TokenInfo
from shared.errors import NotFound, ValidationFailed

public_router = APIRouter(prefix="/api/auth", tags=["auth"])
router = APIRouter(prefix="/api/auth", tags=["api tokens"])

TokenName = Annotated[str, Field(min_length=1, max_length=100, examples=["telegram bot"])]
ExpiresInDays = Annotated[int | None, Field(ge=1, le=3650, description="Days until the token expires; "
                                                                         "omitted or null: never")]
DEFAULT_NAME = "login"


class TokenLoginBody(Body):
    phone_number: Phone
    password: str | None = Field(None, min_length=1, max_length=1024, description="Either this or `code`")
    code: str | None = Field(None, min_length=1, max_length=32, examples=["123456"],
                             description="A login code from `POST /api/auth/otp/request/`; either this or "
                             "`password`")
    name: TokenName = DEFAULT_NAME
    expires_in_days: ExpiresInDays = None


class CreateTokenBody(Body):
    name: TokenName
    expires_in_days: ExpiresInDays = None


class ApiTokenOut(BaseModel):
    """A token as listed: never its secret."""

    id: int
    name: str
    created_at: datetime = Field(examples=["2026-01-01T00:00:00Z"])
    expires_at: datetime | None = Field(description="null: never expires")

    @classmethod
    def of(cls, info: TokenInfo) -> "ApiTokenOut":
        return cls(id=info.id, name=info.name, created_at=info.created_at, expires_at=info.expires_at)


class NewApiToken(BaseModel):
    """A token just issued: `token` is shown this once and cannot be read again."""

    token: str = Field(description="Send as `Authorization: Bearer <token>`")
    token_id: int
    name: str
    expires_at: datetime | None = Field(description="null: never expires")

    @classmethod
    def of(cls, issued: IssuedToken) -> "NewApiToken":
        info = issued.info
        return cls(token=issued.secret, token_id=info.id, name=info.name, expires_at=info.expires_at)


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise ValidationFailed("name: This field may not be blank.", fields={"name": ["This field may not be blank."]})
    return cleaned


@public_router.post(
    "/token/", status_code=201, response_model=NewApiToken, summary="Log in for an API token",
    responses={401: {"model": DetailBody, "description": "Wrong phone number or password"}, **LIMIT_RESPONSE,
               **conflict("Too many tokens (`code`: too_many_tokens)")},
)
async def obtain_token(body: TokenLoginBody, request: Request) -> NewApiToken:
    rt = runtime(request)
    if (body.password is None) == (body.code is None):
        message = "Give either password or code."
        raise ValidationFailed(message, fields={"password": [message], "code": [message]})
    name = _clean_name(body.name)
    if body.password is not None:
        client_ip = request.client.host if request.client else "unknown"
        user = await rt.auth.login(body.phone_number, body.password, client_ip)
    else:
        assert body.code is not None
        user = await rt.auth.verify_code(body.phone_number, body.code, None)
    assert user.id is not None
    return NewApiToken.of(await rt.tokens.issue(user.id, name, body.expires_in_days))


@router.get("/tokens/", response_model=list[ApiTokenOut], summary="Your API tokens (never their secrets)")
async def list_tokens(request: Request, user: CurrentUser) -> list[ApiTokenOut]:
    assert user.id is not None
    return [ApiTokenOut.of(info) for info in await runtime(request).tokens.list(user.id)]


@router.post("/tokens/", status_code=201, response_model=NewApiToken, summary="Create an API token",
             responses=conflict("Too many tokens (`code`: too_many_tokens)"))
async def create_token(body: CreateTokenBody, request: Request, user: CurrentUser) -> NewApiToken:
    assert user.id is not None
    issued = await runtime(request).tokens.issue(user.id, _clean_name(body.name), body.expires_in_days)
    return NewApiToken.of(issued)


@router.delete("/tokens/{token_id}/", status_code=204, summary="Revoke one of your API tokens")
async def revoke_token(token_id: PathId, request: Request, user: CurrentUser) -> None:
    assert user.id is not None
    if not await runtime(request).tokens.revoke(user.id, token_id):
        raise NotFound("Not found.")
