"""The prompt sent upstream (business-rules §6): system prompt, enabled history, new message,
trimmed oldest-first to the model's context budget, read back only as far as that budget reaches."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from chat.repository import ChatRepository
from shared.contracts.llm import ChatTurn
from shared.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, count_text

# Rows per read of the history before its start is known (most conversations fit in one), and after.
FIRST_PAGE = 64
LATER_PAGE = 1_000


class PastMessage(Protocol):
    message_type: str
    content: str
    tokens_count: int


def message_cost(tokens_count: int) -> int:
    """What one stored message adds to a prompt; the running count per message sums these."""
    return MESSAGE_OVERHEAD + tokens_count


@dataclass(frozen=True)
class History:
    """The stored messages a prompt keeps (oldest first), and the running count of the newest
    enabled message before the exchange (0 if none): a message written after it continues it."""

    kept: Sequence[PastMessage]
    running_before: int
    used: int  # the prompt cost of `kept`


def fixed_tokens(system_prompt: str, new_turn: ChatTurn) -> int:
    """What every prompt of this exchange costs whatever history it keeps."""
    system = (MESSAGE_OVERHEAD + count_text(system_prompt)) if system_prompt else 0
    return REPLY_PRIMING + system + MESSAGE_OVERHEAD + count_text(new_turn.content)


async def read_history(repo: ChatRepository, session_id: int, below: int | None, budget: int) -> History:
    """The newest enabled messages older than `below` (None: all of them) whose costs fit `budget`,
    read newest first in pages and no further than the first one that does not fit.

    Each message's stored running count says where the fitting ones start (one index probe), so a
    long conversation is not walked; whether a message fits is still decided by adding the stored
    per-message counts as they are read, so counts that disagree (rows written by something that
    did not keep them) only make the read longer, never the prompt different.
    """
    kept: list = []
    used = 0
    running_before = None
    cursor, lowest, limit = below, None, FIRST_PAGE
    while True:
        page = await repo.history_page(session_id, cursor, lowest, limit)
        for row in page:
            if running_before is None:
                running_before = row.running_tokens
            cost = message_cost(row.tokens_count)
            if used + cost > budget:
                return History(kept[::-1], running_before, used)
            used += cost
            kept.append(row)
        if page:
            cursor = page[-1].id
        if len(page) < limit:
            if lowest is None:
                return History(kept[::-1], running_before or 0, used)  # the conversation's first message fits
            lowest, limit = None, FIRST_PAGE  # everything down to the hinted start fits: read on
            continue
        if lowest is None and running_before is not None:
            start = await repo.history_start(session_id, below, running_before - budget)
            lowest, limit = (start if start is not None else 0), LATER_PAGE


@dataclass(frozen=True)
class Prompt:
    system_prompt: str
    history: History
    new_turn: ChatTurn
    tokens: int  # estimated prompt tokens
    context_tokens: int

    @property
    def running_before(self) -> int:
        return self.history.running_before

    def turns(self) -> list[ChatTurn]:
        """The turns to send (built only by the step that sends them: a full context is thousands)."""
        turns, _ = build_prompt(self.system_prompt, self.history.kept, self.new_turn, self.context_tokens)
        return turns


async def prompt_for(repo: ChatRepository, session_id: int, below: int | None, system_prompt: str,
                     image_chatbot: bool, context_tokens: int, text: str) -> Prompt:
    """The prompt answering `text` from the session's messages older than `below` (None: all): the
    one read of the conversation an exchange makes, bounded by the model's context."""
    turn = ChatTurn(role="user", content=text)
    if image_chatbot and (image_url := await repo.latest_image_url(session_id, below)):
        turn.image_urls = [last_image_of(image_url)]
    fixed = fixed_tokens(system_prompt, turn)
    history = await read_history(repo, session_id, below, context_tokens - fixed)
    return Prompt(system_prompt, history, turn, fixed + history.used, context_tokens)


def build_prompt(
    system_prompt: str,
    past: Sequence[PastMessage],
    new_turn: ChatTurn,
    context_tokens: int,
) -> tuple[list[ChatTurn], int]:
    """Return the turns to send and their estimated prompt tokens.

    Stored messages carry their token counts, so only the system prompt and the new message are
    tokenised here: the hot path never re-tokenises a long history.
    """
    system = [ChatTurn(role="system", content=system_prompt)] if system_prompt else []
    fixed = fixed_tokens(system_prompt, new_turn)
    budget = context_tokens - fixed
    kept: list[ChatTurn] = []
    used = 0
    for message in reversed(past):
        cost = message_cost(message.tokens_count)
        if used + cost > budget:
            break  # the oldest messages are the ones dropped
        used += cost
        kept.append(ChatTurn(role=message.message_type, content=message.content))
    kept.reverse()
    return [*system, *kept, new_turn], fixed + used


def latest_image(past: Sequence) -> str | None:
    """The most recently generated image, sent along with a follow-up request."""
    for message in reversed(past):
        if message.message_type == "assistant" and message.image_url:
            return last_image_of(message.image_url)
    return None


def last_image_of(image_url: str) -> str:
    return image_url.split(",")[-1].strip()


def fallback_title(text: str, words: int = 5, limit: int = 50) -> str:
    title = " ".join(text.split()[:words]).strip()
    return title[:limit] or "New Chat"
