"""Gateway tables: users (phone-number accounts) and API tokens. Login sessions and OTP codes live in Redis."""

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class GatewayTable(SQLModel, registry=registry()):
    pass


class User(GatewayTable, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    phone_number: str = Field(unique=True, index=True, max_length=20)  # E.164
    name: str = Field(max_length=150)
    # Argon2; None for users who only ever logged in with a one-time code.
    password_hash: str | None = Field(default=None, max_length=255)
    is_verified: bool = False
    is_staff: bool = False
    date_joined: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

    @property
    def joined_utc(self) -> datetime:
        # SQLite hands back naive datetimes; they were stored as UTC.
        moment = self.date_joined
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ApiToken(GatewayTable, table=True):
    """An API token (api.md §2): only the SHA-256 of the secret is kept; revoking deletes the row."""

    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    # A token carries 32 random bytes: a fast unsalted hash is enough (nothing to brute-force), and it
    # lets a request find its row by an index lookup.
    token_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
