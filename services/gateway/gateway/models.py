"""Gateway tables: the users (phone-number accounts), their login sessions (copied to Redis) and API
tokens; OTP codes live in Redis."""

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, Index
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


class LoginSessionRow(GatewayTable, table=True):
    """A login session, durable (api.md §2: it survives a Redis restart); Redis holds a copy that
    most requests read (gateway.sessions). Keyed by a hash of the cookie: a copy of the table gives
    no usable cookie. Instants are epoch seconds."""

    __tablename__ = "login_sessions"
    key_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(index=True)
    csrf_token: str = Field(max_length=64)
    expires_at: float  # absolute deadline
    idle_until: float  # idle deadline, slid forward at most every SessionStore.touch_seconds


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


class AuditEntry(GatewayTable, table=True):
    """One successful staff change made through the admin API: who, when, what (field -> [old, new]).
    Written by the gateway after the owning service committed the change (gateway.audit)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # the console's filters page by id within one object type or one actor
        Index("ix_audit_log_object_type_id", "object_type", "id"),
        Index("ix_audit_log_actor_id_id", "actor_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    actor_id: int
    action: str = Field(max_length=32)  # create | update | delete | refund | change_plan | set_staff | sync_models
    object_type: str = Field(max_length=32)  # plan | ai_model | chatbot | user | discount_code | payment
    object_id: str = Field(max_length=64)
    summary: str = Field(max_length=500)
    changes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
