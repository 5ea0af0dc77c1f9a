"""Chat service tables: the model and chatbot catalog, sessions, messages, the outbox."""

from datetime import datetime
from decimal import Decimal
from uuid import UUID, uuid4

from sqlalchemy import Column, DateTime, Index, Numeric, UniqueConstraint, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.clock import utcnow


class ChatTable(SQLModel, registry=registry()):
    pass


def _ts(**kw) -> Column:  # timezone-aware timestamps on every backend
    return Column(DateTime(timezone=True), **kw)


class AiModel(ChatTable, table=True):
    __tablename__ = "ai_model"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    model_id: str = Field(unique=True, index=True)
    description: str = ""
    model_type: str = "text"
    is_active: bool = True
    is_free: bool = False
    token_cost_multiplier: Decimal = Field(default=Decimal("1.00"), sa_column=Column(Numeric(8, 2), nullable=False))
    context_tokens: int = 16_000
    max_reply_tokens: int = 1_024
    prompt_price_usd_per_mtok: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 6)))
    completion_price_usd_per_mtok: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 6)))
    fallback_model_ids: str = ""  # comma-separated OpenRouter slugs


class AiModelPlan(ChatTable, table=True):
    """A paid model is usable on the plans it is linked to."""

    __tablename__ = "ai_model_plan"
    ai_model_id: int = Field(foreign_key="ai_model.id", primary_key=True)
    plan_id: int = Field(primary_key=True)


class Chatbot(ChatTable, table=True):
    __tablename__ = "chatbot"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    description: str = ""
    image: str | None = None
    is_active: bool = True
    system_prompt: str = ""
    chatbot_type: str = "text"
    default_model_id: int | None = Field(default=None, foreign_key="ai_model.id")


class ChatbotPlan(ChatTable, table=True):
    """A chatbot linked to no plan is public."""

    __tablename__ = "chatbot_plan"
    chatbot_id: int = Field(foreign_key="chatbot.id", primary_key=True)
    plan_id: int = Field(primary_key=True)


class ChatSession(ChatTable, table=True):
    __tablename__ = "chat_session"
    # A user's list in its order (updated_at DESC, id DESC): a page, by offset or keyset, and its count
    # read the index instead of sorting every session of the user.
    __table_args__ = (Index("ix_chat_session_user_list", "user_id", "is_active", "updated_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True)
    chatbot_id: int = Field(foreign_key="chatbot.id")
    ai_model_id: int = Field(foreign_key="ai_model.id")
    title: str = "New Chat"
    auto_generate_title: bool = True
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))
    # The exchange whose reply is queued or streaming; set atomically, it is the 409 lock.
    active_exchange_id: UUID | None = None
    active_since: datetime | None = Field(default=None, sa_column=_ts())


class Message(ChatTable, table=True):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("reply_to_exchange_id", name="uq_message_reply_exchange"),
        # The conversation's order: the enabled messages of a session by id, read in pages from
        # either end (keyset on id: `?limit`, `?before`, `?after`, and the history a send builds).
        Index("ix_message_session_order", "session_id", "disabled", "id"),
        # Where a prompt's history starts: the newest enabled message whose running count is at
        # most the budget's floor, found without reading the messages after it (business-rules §6).
        Index("ix_message_session_running", "session_id", "disabled", "running_tokens"),
        # The latest generated image of a session (sent along with a follow-up to an image chatbot),
        # found without walking back through replies that have none.
        Index("ix_message_session_images", "session_id", "disabled", "id",
              postgresql_where=text("image_url <> ''"), sqlite_where=text("image_url <> ''")),
    )
    id: int | None = Field(default=None, primary_key=True)
    message_id: UUID = Field(default_factory=uuid4, unique=True, index=True)
    session_id: int = Field(foreign_key="chat_session.id", index=True)
    user_id: int
    message_type: str  # "user" | "assistant"
    content: str
    tokens_count: int = 0
    # The prompt cost (MESSAGE_OVERHEAD + tokens_count each) of the session's enabled messages up to
    # and including this one, set when the message is written: the prompt is read back only as far
    # as the model's context reaches, and no stored text is counted again (chat/history.py).
    running_tokens: int = 0
    image_url: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    edited_at: datetime | None = Field(default=None, sa_column=_ts())
    disabled: bool = False
    # User messages: the exchange producing their current reply, and its state.
    exchange_id: UUID | None = Field(default=None, index=True)
    reply_status: str | None = None
    reply_error: str | None = None
    # Assistant messages: the exchange that produced them (unique: one reply per exchange), the
    # message_id of the user message they answer, and why the reply ended (api.md §3.5).
    reply_to_exchange_id: UUID | None = None
    reply_to: UUID | None = None
    finish_reason: str | None = None  # "stop" | "length" | "stopped" | "error"


class Outbox(ChatTable, table=True):
    """Messages to publish, written in the same transaction as the state change they announce."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    exchange: str  # "commands" | "events"
    routing_key: str
    payload: str  # JSON of the contract
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    # AMQP headers to publish with (JSON): the trace context and request id of the request that
    # stored the row, so the published message continues that trace.
    headers: str | None = None


class ProcessedMessage(ChatTable, table=True):
    """Ids of consumed events whose effect is not otherwise idempotent (inbox)."""

    __tablename__ = "processed_message"
    message_id: UUID = Field(primary_key=True)
    processed_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
