"""Commands consumed and events published by the llm-worker.

An *exchange* is one user message and the one reply produced for it; `exchange_id` identifies it
everywhere: it is the billing reservation id and the key that makes the reply idempotent.
"""

from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.base import Contract, Message


class ChatTurn(Contract):
    role: Literal["system", "user", "assistant"]
    content: str
    image_urls: list[str] = Field(default_factory=list)  # images sent along (follow-ups)


class Usage(Contract):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: Decimal | None = None  # None: the provider did not say
    estimated: bool = False  # True when counted locally with tiktoken


class GenerateReply(Message):
    exchange_id: UUID
    session_id: int
    user_id: int
    model: str  # OpenRouter slug
    fallback_models: list[str] = Field(default_factory=list)
    messages: list[ChatTurn] = Field(default_factory=list)
    max_tokens: int
    modalities: list[str] | None = None  # ["image", "text"] for image chatbots
    # Set instead of `messages` when the prompt is too big to ride on the broker: the Redis key the
    # worker reads the turns from (shared.prompt_refs).
    prompt_ref: str | None = None


class ReplyCompleted(Message):
    exchange_id: UUID
    session_id: int
    user_id: int
    model: str  # the model that actually answered (fallbacks)
    content: str
    image_urls: list[str] = Field(default_factory=list)  # stored media URLs
    usage: Usage
    generation_id: str | None = None
    # The provider's reason ("stop", "length", "content_filter", …), "error" when the stream broke
    # after some text (the content is partial), "stopped" by the user; chat maps it to the API's four.
    finish_reason: str | None = None
    stopped: bool = False  # the user stopped it; content is what was generated so far


class ReplyFailed(Message):
    exchange_id: UUID
    session_id: int
    user_id: int
    error: str
    code: str = "upstream_error"


class GenerateTitle(Message):
    session_id: int
    user_id: int
    model: str
    user_text: str
    reply_text: str


class TitleGenerated(Message):
    session_id: int
    user_id: int
    command_id: UUID  # message_id of the GenerateTitle it answers (idempotency key)
    model: str
    title: str | None  # None: generation failed, chat falls back to the first words
    usage: Usage | None = None


class StopRequested(Message):
    exchange_id: UUID
    session_id: int
