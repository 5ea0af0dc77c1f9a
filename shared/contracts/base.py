"""Base class of every command, event and RPC payload."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field


def _now() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)


class Message(Contract):
    """A command or event: unique id for idempotent consumers, and when it was made."""

    message_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=_now)
