"""HTTP request and response models of the chat, catalog and usage routes (not wire contracts)."""

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import MAX_MESSAGE_CHARS, MAX_MODEL_SLUG_CHARS, MAX_TITLE_CHARS
from shared.contracts.base import Id
from shared.text import Text


class Strict(BaseModel):
    # Unknown fields are ignored: read-only fields sent back by clients never change anything.
    model_config = ConfigDict(extra="ignore")


class Chatbot(BaseModel):
    id: int
    name: str
    description: str
    image: str | None
    is_active: bool
    system_prompt: str
    chatbot_type: Literal["text", "image"]


class AiModel(BaseModel):
    id: int
    name: str
    model_id: str
    description: str
    model_type: Literal["text", "image"]
    is_active: bool
    is_free: bool
    token_cost_multiplier: Decimal = Field(json_schema_extra={"example": "1.00"})


class ChatSession(BaseModel):
    id: int
    chatbot: Chatbot
    ai_model: AiModel
    title: str
    auto_generate_title: bool
    created_at: datetime
    updated_at: datetime
    is_active: bool


class ChatMessage(BaseModel):
    message_id: UUID
    message_type: Literal["user", "assistant"]
    content: str
    tokens_count: int
    image_url: str
    created_at: datetime
    edited_at: datetime | None
    disabled: bool
    reply_status: Literal["queued", "streaming", "completed", "failed"] | None = Field(
        None, description="User messages only: state of the reply to this message."
    )
    reply_error: str | None = Field(None, description="User messages only: why the reply failed.")
    reply_to: UUID | None = Field(
        None, description="Assistant messages: the message_id of the user message this reply answers; null on user messages."
    )
    finish_reason: Literal["stop", "length", "stopped", "error"] | None = Field(
        None, description="Assistant messages: why the reply ended: complete (stop), cut by the reply's token cap "
        "(length), stopped by the user (stopped), or cut short by the provider, the text being partial (error); "
        "null on user messages."
    )


class MessageList(BaseModel):
    messages: list[ChatMessage]
    has_more: bool | None = Field(
        None, description="Only with `limit`: older messages exist before the first one returned (page on with "
        "`before`=the first message_id)."
    )


class SendResult(BaseModel):
    user_message: ChatMessage


class Success(BaseModel):
    success: bool = True


class TitleResult(Success):
    title: str


class DisabledResult(Success):
    disabled_message_ids: list[UUID]


# Text people write follows the shared rule (shared.text): trimmed, no control characters, not blank
# once invisible characters are removed. A blank title is refused (400), not silently "New Chat".
Title = Text(MAX_TITLE_CHARS)
MessageText = Text(MAX_MESSAGE_CHARS)


class CreateSessionBody(Strict):
    chatbot_id: Id
    ai_model_id: str | None = Field(None, min_length=1, max_length=MAX_MODEL_SLUG_CHARS)
    title: Title | None = None
    auto_generate_title: bool = True


class UpdateSessionBody(Strict):
    title: Title | None = None
    auto_generate_title: bool | None = None
    ai_model_id: str | None = Field(None, min_length=1, max_length=MAX_MODEL_SLUG_CHARS)


class SendBody(Strict):
    message: MessageText


class EditBody(Strict):
    content: MessageText


class TitleBody(Strict):
    title: Title
