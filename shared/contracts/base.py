"""Base class of every command, event and RPC payload."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

# The fields an admin request set, by name: the owning service validates the values with its own model
# (billing.plans.PlanFields, chat's catalog models, billing.discounts.CodeFields) and ignores names it
# does not know. Values as the gateway sends them (JSON) or as internal callers have them (Decimal…).
FieldValues = dict[str, Any]


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
