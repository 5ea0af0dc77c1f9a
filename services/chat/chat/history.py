"""The prompt sent upstream (business-rules §6): system prompt, enabled history, new message,
trimmed oldest-first to the model's context budget, read back only as far as that budget reaches.

A send reads the newest page of the conversation. When the prompt ends inside it (most do), the
turns go with the command; when the conversation goes on past it, the send takes the prompt's size
from the running counts (one index probe) and leaves the reading of its turns to the outbox relay,
which builds them after the answer (`PromptPlan`): a long conversation's send costs what a short
one's does, and its thousand turns are read and serialised once, off the request."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

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
    """The stored messages a prompt keeps (oldest first; None when not read yet: `PromptPlan`), and
    the running count of the newest enabled message before the exchange (0 if none): a message
    written after it continues it."""

    kept: Sequence[PastMessage] | None
    running_before: int
    used: int  # the prompt cost of the messages kept


def fixed_tokens(system_prompt: str, new_turn: ChatTurn) -> int:
    """What every prompt of this exchange costs whatever history it keeps."""
    system = (MESSAGE_OVERHEAD + count_text(system_prompt)) if system_prompt else 0
    return REPLY_PRIMING + system + MESSAGE_OVERHEAD + count_text(new_turn.content)


def _take(rows: Sequence[PastMessage], budget: int, kept: list, used: int) -> tuple[int, bool]:
    """Appends to `kept` the rows (newest first) that still fit `budget` after `used`; returns the
    new `used` and whether a row did not fit (the prompt's history ends there)."""
    for row in rows:
        cost = message_cost(row.tokens_count)
        if used + cost > budget:
            return used, True
        used += cost
        kept.append(row)
    return used, False


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
        if running_before is None and page:
            running_before = page[0].running_tokens
        used, full = _take(page, budget, kept, used)
        if full:
            return History(kept[::-1], running_before, used)
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


async def plan_history(repo: ChatRepository, session_id: int, below: int | None, budget: int) -> History:
    """What a send reads: the newest page of the conversation, kept if the prompt ends inside it;
    otherwise the cost of what fits, from the running counts, and no turns (`kept` None)."""
    page = await repo.history_page(session_id, below, None, FIRST_PAGE)
    running_before = page[0].running_tokens if page else 0
    kept: list = []
    used, full = _take(page, budget, kept, 0)
    if full or len(page) < FIRST_PAGE:
        return History(kept[::-1], running_before, used)
    return History(None, running_before, await repo.history_cost(session_id, below, running_before, budget))


@dataclass(frozen=True)
class PromptPlan:
    """How to build an exchange's prompt later: what the outbox row of its `GenerateReply` carries
    instead of the turns when the send did not read them (chat's own key, never published)."""

    KEY = "mobix_prompt_plan"

    session_id: int
    below: int  # the exchange's user message: the history is what is older
    budget: int  # context tokens left for the history
    system_prompt: str
    new_turn: dict[str, Any]  # the turn answered, as JSON

    async def turns(self, repo: ChatRepository) -> list[dict[str, Any]]:
        """The turns, read exactly as a whole-history read would keep them (business-rules §6)."""
        history = await read_history(repo, self.session_id, self.below, self.budget)
        return prompt_turns(self.system_prompt, history.kept, self.new_turn)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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

    def command_fields(self, session_id: int, user_message_id: int) -> dict[str, Any]:
        """What the `GenerateReply` body carries for this prompt: its turns as JSON (built only by
        the step that stores them), or the plan the outbox relay builds them from."""
        new_turn = self.new_turn.model_dump(mode="json")
        if self.history.kept is not None:
            return {"messages": prompt_turns(self.system_prompt, self.history.kept, new_turn)}
        budget = self.context_tokens - (self.tokens - self.history.used)  # what prompt_for gave the history
        plan = PromptPlan(session_id, user_message_id, budget, self.system_prompt, new_turn)
        return {"messages": [], PromptPlan.KEY: plan.to_json()}


async def prompt_for(repo: ChatRepository, session_id: int, below: int | None, system_prompt: str,
                     image_chatbot: bool, context_tokens: int, text: str) -> Prompt:
    """The prompt answering `text` from the session's messages older than `below` (None: all): the
    one read of the conversation an exchange makes, bounded by the model's context."""
    turn = ChatTurn(role="user", content=text)
    if image_chatbot and (image_url := await repo.latest_image_url(session_id, below)):
        turn = ChatTurn(role="user", content=text, image_urls=[last_image_of(image_url)])
    fixed = fixed_tokens(system_prompt, turn)
    history = await plan_history(repo, session_id, below, context_tokens - fixed)
    return Prompt(system_prompt, history, turn, fixed + history.used, context_tokens)


def prompt_turns(system_prompt: str, kept: Sequence[PastMessage], new_turn: dict[str, Any]) -> list[dict[str, Any]]:
    """The turns sent, as the JSON of `ChatTurn`s: plain dicts, because a full context is a thousand
    turns and validating each as a model cost more than reading them."""
    system = [_turn("system", system_prompt)] if system_prompt else []
    return [*system, *(_turn(m.message_type, m.content) for m in kept), new_turn]


def _turn(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content, "image_urls": []}  # ChatTurn's JSON (tests/chat/test_history.py)


def last_image_of(image_url: str) -> str:
    return image_url.split(",")[-1].strip()


def fallback_title(text: str, words: int = 5, limit: int = 50) -> str:
    title = " ".join(text.split()[:words]).strip()
    return title[:limit] or "New Chat"
