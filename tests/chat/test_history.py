"""Prompt building (business-rules §6) on an in-memory conversation: system prompt first, oldest
messages dropped first; the send's cost from the running counts equals what the full read keeps; the
plan left for the outbox relay builds the same turns; turns are ChatTurn's JSON."""

import random
from dataclasses import dataclass

import pytest
from chat.history import (
    PromptPlan,
    fallback_title,
    message_cost,
    prompt_for,
    prompt_turns,
    read_history,
)

from shared.contracts.llm import ChatTurn
from shared.tokens import REPLY_PRIMING, count_text


@dataclass
class Row:
    id: int
    message_type: str
    content: str
    tokens_count: int
    running_tokens: int


class Conversation:
    """The repository reads the prompt uses, over a list (one session, every message enabled)."""

    def __init__(self, texts: list[str]) -> None:
        self.rows: list[Row] = []
        running = 0
        for i, text in enumerate(texts, start=1):
            tokens = count_text(text)
            running += message_cost(tokens)
            self.rows.append(Row(i, "user" if i % 2 else "assistant", text, tokens, running))

    def _upto(self, below):
        return [r for r in self.rows if below is None or r.id < below]

    async def history_page(self, _session_id, below, lowest, limit):
        rows = [r for r in self._upto(below) if r.id >= (lowest or 0)]
        return rows[::-1][:limit]

    async def history_start(self, _session_id, below, floor):
        fitting = [r for r in self._upto(below) if r.running_tokens <= floor]
        return max(fitting, key=lambda r: (r.running_tokens, r.id)).id if fitting else None

    async def history_cost(self, _session_id, below, running_before, budget):
        floor = running_before - budget
        if floor <= 0:
            return running_before
        reaching = [r.running_tokens for r in self._upto(below) if r.running_tokens >= floor]
        return running_before - min(reaching) if reaching else 0

    async def latest_image_url(self, _session_id, _below):
        return None


def _texts(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    words = ["river", "stone", "light", "why", "how", "کتاب", "42"]
    return [" ".join(rng.choice(words) for _ in range(rng.choice([1, 3, 8, 30]))) for _ in range(n)]


def _reference(system: str, texts: list[str], new: str, context: int) -> tuple[list[tuple[str, str]], int]:
    """The rule over the whole history, the straightforward way."""
    fixed = REPLY_PRIMING + message_cost(count_text(new)) + (message_cost(count_text(system)) if system else 0)
    kept, used = [], 0
    for i in range(len(texts), 0, -1):
        cost = message_cost(count_text(texts[i - 1]))
        if fixed + used + cost > context:
            break
        used += cost
        kept.insert(0, ("user" if i % 2 else "assistant", texts[i - 1]))
    return [*([("system", system)] if system else []), *kept, ("user", new)], fixed + used


async def _turns_of(repo: Conversation, prompt, below: int) -> list[tuple[str, str]]:
    fields = prompt.command_fields(1, below)
    if PromptPlan.KEY in fields:
        assert fields["messages"] == []
        turns = await PromptPlan(**fields[PromptPlan.KEY]).turns(repo)
    else:
        turns = fields["messages"]
    return [(t["role"], t["content"]) for t in turns]


@pytest.mark.parametrize("length", [0, 1, 5, 63, 64, 65, 200, 900])
@pytest.mark.parametrize("context", [60, 400, 2_000, 100_000])
async def test_the_prompt_and_its_cost_equal_the_whole_history_rule(length, context):
    texts = _texts(length, seed=length)
    repo = Conversation(texts)
    prompt = await prompt_for(repo, 1, None, "Be brief.", False, context, "and now?")
    expected, tokens = _reference("Be brief.", texts, "and now?", context)
    assert prompt.tokens == tokens
    assert await _turns_of(repo, prompt, length + 1) == expected
    assert prompt.running_before == (repo.rows[-1].running_tokens if repo.rows else 0)


async def test_a_long_conversation_leaves_its_turns_to_the_relay_and_a_short_one_does_not():
    short, long = Conversation(_texts(10)), Conversation(_texts(500))
    assert "messages" in (await prompt_for(short, 1, None, "", False, 100_000, "hi")).command_fields(1, 11)
    fields = (await prompt_for(long, 1, None, "", False, 100_000, "hi")).command_fields(1, 501)
    assert fields["messages"] == [] and fields[PromptPlan.KEY]["below"] == 501


async def test_no_system_prompt_means_no_system_turn():
    prompt = await prompt_for(Conversation([]), 1, None, "", False, 1000, "hi")
    assert await _turns_of(Conversation([]), prompt, 1) == [("user", "hi")]


def test_turns_are_chat_turn_json():
    turns = prompt_turns("S", [Row(1, "assistant", "a", 1, 5)], ChatTurn(role="user", content="q").model_dump(mode="json"))
    assert turns == [ChatTurn(role=r, content=c).model_dump(mode="json") for r, c in (("system", "S"), ("assistant", "a"), ("user", "q"))]


async def test_read_history_keeps_the_newest_that_fit():
    repo = Conversation(["old " * 400, "middle " * 400, "recent"])
    history = await read_history(repo, 1, None, 100)
    assert [m.content for m in history.kept] == ["recent"]


def test_fallback_title_is_first_words_cut_to_50():
    assert fallback_title("Tell me about the history of Rome please") == "Tell me about the history"
    assert len(fallback_title("x" * 80)) == 50
    assert fallback_title("   ") == "New Chat"

