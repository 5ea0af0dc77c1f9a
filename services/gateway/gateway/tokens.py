"""API tokens (api.md §2): `Authorization: Bearer <token>` for bots, apps and scripts.

A token is `mbx_` + 43 URL-safe characters (32 random bytes); the database keeps only its SHA-256,
so a copy of the table gives no usable token. Revoking deletes the row; `revoke_all` is what a
password change calls, so every token of the user dies with the old password.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import select

from gateway.models import ApiToken
from shared.clock import Clock
from shared.db import SessionFactory, transaction
from shared.errors import Conflict

PREFIX = "mbx_"
SECRET_BYTES = 32
# Longer than any token we issue; a longer header is not worth hashing.
MAX_TOKEN_LENGTH = 128
MAX_TOKENS_PER_USER = 50


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were stored as UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> "TokenInfo":
        assert row.id is not None
        return cls(row.id, row.user_id, row.name, _utc(row.created_at), _utc(row.expires_at))  # type: ignore[arg-type]


@dataclass(frozen=True)
class IssuedToken:
    secret: str  # shown once, never stored
    info: TokenInfo


class TokenStore:
    def __init__(self, factory: SessionFactory, clock: Clock) -> None:
        self.factory = factory
        self.clock = clock

    async def issue(self, user_id: int, name: str, expires_in_days: int | None = None) -> IssuedToken:
        now = self.clock.now()
        expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
        secret = new_secret()
        async with transaction(self.factory) as s:
            count = await s.exec(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user_id))
            if count.one() >= MAX_TOKENS_PER_USER:
                raise Conflict(f"You already have {MAX_TOKENS_PER_USER} API tokens; revoke one first.",
                               code="too_many_tokens")
            row = ApiToken(user_id=user_id, name=name, token_hash=digest(secret), created_at=now,
                           expires_at=expires_at)
            s.add(row)
            await s.flush()
            info = TokenInfo.of(row)
        return IssuedToken(secret, info)

    async def user_id_of(self, token: str) -> int | None:
        """The user a live token belongs to; None for an unknown, revoked or expired token."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        async with self.factory() as s:
            row = (await s.exec(select(ApiToken).where(ApiToken.token_hash == digest(token)))).first()
        if row is None:
            return None
        expires_at = _utc(row.expires_at)
        if expires_at is not None and self.clock.now() >= expires_at:
            return None
        return row.user_id

    async def list(self, user_id: int) -> list[TokenInfo]:
        async with self.factory() as s:
            rows = await s.exec(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
            return [TokenInfo.of(row) for row in rows]

    async def revoke(self, user_id: int, token_id: int) -> bool:
        """Delete one of the user's tokens; False when it is not theirs (or gone already)."""
        async with transaction(self.factory) as s:
            result = await s.exec(delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id))
            return bool(result.rowcount)

    async def revoke_named(self, user_id: int, name: str) -> int:
        """Delete the user's tokens called `name` (a bot's link replaces its previous token)."""
        async with transaction(self.factory) as s:
            result = await s.exec(delete(ApiToken).where(ApiToken.user_id == user_id, ApiToken.name == name))
            return int(result.rowcount or 0)

    async def revoke_all(self, user_id: int) -> int:
        """Delete every token of the user (a password change calls this); returns how many."""
        async with transaction(self.factory) as s:
            result = await s.exec(delete(ApiToken).where(ApiToken.user_id == user_id))
            return int(result.rowcount or 0)
