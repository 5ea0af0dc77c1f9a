"""Base class of every command, event and RPC payload."""

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import MAX_ID

# Ids are 32-bit integers in every database (PostgreSQL `integer`): a larger or non-positive id names
# nothing and must never reach SQL, where it fails as an overflow instead of a clear 400.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _now() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    # Frozen: a payload is a fact sent or received; a consumer that needs another value makes a new
    # one (`model_copy(update=…)`) instead of changing what others may hold. Extra fields are ignored
    # so that a newer sender's additions never break an older consumer.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Message(Contract):
    """A command or event: unique id for idempotent consumers, and when it was made."""

    message_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=_now)
