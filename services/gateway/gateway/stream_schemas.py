"""The data of each Server-Sent Event of `GET /api/chat-sessions/{id}/stream/` (api.md §5), for the
OpenAPI document: `gateway.stream.shape` builds them, `tests/api` checks real events against them."""

from uuid import UUID

from pydantic import BaseModel, Field

from gateway.chat_schemas import ChatMessage


class ReplyQueuedEvent(BaseModel):
    """`reply.queued`: a reply will be produced for `user_message`."""

    message_id: UUID = Field(description="The exchange: the same id in this reply's later events")
    user_message: ChatMessage = Field(description="The user message being answered")


class ReplyDeltaEvent(BaseModel):
    """`reply.delta`: the next piece of the reply's text."""

    message_id: UUID
    delta: str
    seq: int = Field(description="Position of this piece in the reply, from 0")
    attempt: int = Field(description="Starts again from seq 0 when the model was retried (e.g. a fallback)")


class ReplyFailedEvent(BaseModel):
    """`reply.failed`: no reply this time; the send was not billed."""

    message_id: UUID
    error: str


class SessionTitleEvent(BaseModel):
    """`session.title`: the session got a (generated) title."""

    title: str


# SSE event name -> the model of its `data` (JSON). `reply.completed` carries the stored assistant message.
EVENTS: dict[str, type[BaseModel]] = {
    "reply.queued": ReplyQueuedEvent,
    "reply.delta": ReplyDeltaEvent,
    "reply.completed": ChatMessage,
    "reply.failed": ReplyFailedEvent,
    "session.title": SessionTitleEvent,
}
