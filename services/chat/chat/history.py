"""The prompt sent upstream (business-rules §6): system prompt, enabled history, new message,
trimmed oldest-first to the model's context budget."""

from chat.models import Message
from shared.contracts.llm import ChatTurn
from shared.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, count_text


def build_prompt(
    system_prompt: str,
    past: list[Message],
    new_turn: ChatTurn,
    context_tokens: int,
) -> tuple[list[ChatTurn], int]:
    """Return the turns to send and their estimated prompt tokens.

    Stored messages carry their token counts, so only the system prompt and the new message are
    tokenised here: the hot path never re-tokenises a long history.
    """
    system = [ChatTurn(role="system", content=system_prompt)] if system_prompt else []
    fixed_tokens = REPLY_PRIMING + sum(MESSAGE_OVERHEAD + count_text(t.content) for t in (*system, new_turn))
    budget = context_tokens - fixed_tokens
    kept: list[ChatTurn] = []
    used = 0
    for message in reversed(past):
        cost = MESSAGE_OVERHEAD + message.tokens_count
        if used + cost > budget:
            break  # the oldest messages are the ones dropped
        used += cost
        kept.append(ChatTurn(role=message.message_type, content=message.content))
    kept.reverse()
    return [*system, *kept, new_turn], fixed_tokens + used


def latest_image(past: list[Message]) -> str | None:
    """The most recently generated image, sent along with a follow-up request."""
    for message in reversed(past):
        if message.message_type == "assistant" and message.image_url:
            return message.image_url.split(",")[-1].strip()
    return None


def fallback_title(text: str, words: int = 5, limit: int = 50) -> str:
    title = " ".join(text.split()[:words]).strip()
    return title[:limit] or "New Chat"
