"""Long conversations (business-rules §6, api.md §3.5), on SQLite and PostgreSQL: the prompt built
from the bounded read equals the one a whole-history read builds, the running counts stay right as
messages are written, edited and replaced, pages walk a growing conversation exactly once, and a
10,000-message session sends and lists by pages."""

import json
import random
from datetime import timedelta
from uuid import uuid4

import pytest
import sqlalchemy as sa
from chat import history
from chat.models import AiModel, Chatbot, Message, Outbox
from chat.repository import ChatRepository
from chat.seed import FREE
from chat.views import message_out
from sqlmodel import select

from shared.contracts import chat as c
from shared.contracts.llm import ReplyCompleted, ReplyFailed, Usage
from shared.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, count_text
from shared.topology import Keys
from tests.chat.test_service import USER, _exchange_id_of, _session

WORDS = ["the", "a", "river", "stone", "light", "quick", "ask", "why", "how", "نور", "کتاب", "42", "code", "reply", "longer", "question", "answer"]


# --- the reference: the whole history, read and trimmed the straightforward way ------------------


def reference_prompt(system_prompt: str, past: list[Message], text: str, context_tokens: int):
    """Business-rules §6 over every enabled message before the exchange, oldest first."""
    fixed = REPLY_PRIMING + MESSAGE_OVERHEAD + count_text(text)
    if system_prompt:
        fixed += MESSAGE_OVERHEAD + count_text(system_prompt)
    kept, used = [], 0
    for message in reversed(past):
        cost = MESSAGE_OVERHEAD + message.tokens_count
        if fixed + used + cost > context_tokens:
            break
        used += cost
        kept.insert(0, (message.message_type, message.content))
    system = [("system", system_prompt)] if system_prompt else []
    return [*system, *kept, ("user", text)], fixed + used


async def _enabled(factory, session_id) -> list:
    """Every enabled message of the session, oldest first (plain rows: a 10,000-message read stays quick)."""
    table = Message.__table__
    query = sa.select(table).where(table.c.session_id == session_id, table.c.disabled.is_(False)).order_by(table.c.id)
    async with factory() as s:
        return list((await (await s.connection()).execute(query)).all())


async def _sent_prompt(factory) -> list[tuple[str, str]]:
    """The turns of the newest `GenerateReply`: carried, or built from its plan as the relay does."""
    async with factory() as s:
        row = (await s.exec(select(Outbox).where(Outbox.routing_key == Keys.GENERATE_REPLY)
                            .order_by(Outbox.id.desc()))).first()
        body = json.loads(row.payload)
        if (plan := body.get(history.PromptPlan.KEY)) is not None:
            assert body["messages"] == []
            body["messages"] = await history.PromptPlan(**plan).turns(ChatRepository(s))
    return [(m["role"], m["content"]) for m in body["messages"]]


async def _configure(factory, service, system_prompt: str, context_tokens: int) -> None:
    async with factory() as s:
        await s.exec(sa.update(Chatbot).values(system_prompt=system_prompt))
        await s.exec(sa.update(AiModel).values(context_tokens=context_tokens))
        await s.commit()
    service.catalog.clear()


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.choice([1, 2, 5, 12, 40, 90])))


async def _check_running_counts(factory, session_id) -> None:
    """What every write keeps: each enabled message's running count continues the previous one."""
    running = 0
    for message in await _enabled(factory, session_id):
        running += MESSAGE_OVERHEAD + message.tokens_count
        assert message.running_tokens == running, f"message {message.id}"


async def _exchange(service, factory, session_id, kind, rng, target=None, counts_kept=True) -> None:
    """One exchange; its prompt (the one queued for the worker, and the tokens billing is told)
    must equal the reference built from the whole history as it was. The tokens billing is told come
    from the running counts (`counts_kept` False: rows whose counts are wrong, where only the turns
    must still be right)."""
    enabled = await _enabled(factory, session_id)
    if kind == "send":
        text, before = _text(rng), enabled
    elif kind == "edit":
        text, before = _text(rng), [m for m in enabled if m.id < target.id]
    else:
        target = [m for m in enabled if m.message_type == "user"][-1]
        text, before = target.content, [m for m in enabled if m.id < target.id]
    async with factory() as s:
        bot = (await s.exec(select(Chatbot).where(Chatbot.id == 1))).one()
        model = (await s.exec(select(AiModel).where(AiModel.is_free.is_(True)))).first()
    expected_turns, expected_tokens = reference_prompt(bot.system_prompt, before, text, model.context_tokens)

    fields = {"content": text} if kind != "regenerate" else {}
    if kind == "edit":
        fields["message_id"] = target.message_id
    stored = await service.run_exchange(c.RunExchange(user_id=USER, plan_id=FREE, session_id=session_id, kind=kind,
                                                      exchange_id=uuid4(), **fields))
    told = service.billing.requests[-1].prompt_tokens
    assert told == expected_tokens if counts_kept else 0 <= told <= model.context_tokens
    assert await _sent_prompt(factory) == expected_turns
    later = [m.message_id for m in enabled if target is not None and m.id > target.id]
    assert stored.disabled_message_ids == later

    exchange_id = await _exchange_id_of(factory, stored.user_message.message_id)
    if rng.random() < 0.1:
        await service.on_reply_failed(ReplyFailed(exchange_id=exchange_id, session_id=session_id, user_id=USER,
                                                  error="upstream"))
        return
    reply = _text(rng)
    completion = count_text(reply) + rng.choice([0, 0, 3])  # what the provider reports, not a recount
    await service.on_reply_completed(ReplyCompleted(
        exchange_id=exchange_id, session_id=session_id, user_id=USER, model=model.model_id, content=reply,
        usage=Usage(prompt_tokens=expected_tokens, completion_tokens=completion,
                    total_tokens=expected_tokens + completion)))


def _small_pages(monkeypatch, rng: random.Random) -> None:
    """Pages of a few rows, so short conversations are read in several pages and by the hint."""
    monkeypatch.setattr(history, "FIRST_PAGE", rng.choice([1, 2, 3]))
    monkeypatch.setattr(history, "LATER_PAGE", rng.choice([1, 2, 5]))


async def _conversation(service, factory, rng, steps: int) -> int:
    session = await _session(service)
    for _ in range(steps):
        enabled = await _enabled(factory, session.id)
        users = [m for m in enabled if m.message_type == "user"]
        roll = rng.random()
        if users and roll < 0.15:
            await _exchange(service, factory, session.id, "edit", rng, target=rng.choice(users))
        elif users and roll < 0.25 and (users[-1].reply_status == "failed" or enabled[-1].message_type == "assistant"):
            await _exchange(service, factory, session.id, "regenerate", rng)
        else:
            await _exchange(service, factory, session.id, "send", rng)
    return session.id


@pytest.mark.parametrize("seed", range(12))
async def test_prompt_from_the_bounded_read_equals_the_whole_history_one(chat_db, seed, monkeypatch):
    """Several lengths, edits, regenerates, failed replies (their message stays, disabled replies do
    not), with and without a system prompt, budgets from "nothing fits" to "everything fits", and
    pages small enough that the read goes page by page and by the running counts' hint."""
    service, factory, _ = chat_db
    rng = random.Random(seed)
    _small_pages(monkeypatch, rng)
    system_prompt = rng.choice(["", "You are terse.", " ".join(WORDS)])
    context = rng.choice([25, 120, 300, 700, 2_000, 32_000])
    await _configure(factory, service, system_prompt, context)
    session_id = await _conversation(service, factory, rng, steps=rng.choice([0, 1, 3, 10, 25]))
    await _check_running_counts(factory, session_id)
    # The budget changes under an existing conversation (an operator edits the model): still equal.
    await _configure(factory, service, system_prompt, rng.choice([40, 250, 900]))
    await _exchange(service, factory, session_id, "send", rng)
    await _check_running_counts(factory, session_id)


@pytest.mark.parametrize("seed", range(3))
async def test_a_budget_that_ends_exactly_at_a_message_keeps_it(chat_db, seed):
    """The cut in the middle, on the boundary itself: the k newest messages fit with nothing to spare."""
    service, factory, _ = chat_db
    rng = random.Random(200 + seed)
    await _configure(factory, service, "Be brief.", 32_000)
    session_id = await _conversation(service, factory, rng, steps=8)
    enabled = await _enabled(factory, session_id)
    k = len(enabled) // 2
    upcoming = random.Random()
    upcoming.setstate(rng.getstate())  # the text _exchange will send next
    fixed = REPLY_PRIMING + 2 * MESSAGE_OVERHEAD + count_text(_text(upcoming)) + count_text("Be brief.")
    exact = fixed + sum(MESSAGE_OVERHEAD + m.tokens_count for m in enabled[len(enabled) - k:])
    await _configure(factory, service, "Be brief.", exact)
    await _exchange(service, factory, session_id, "send", rng)
    assert len(await _sent_prompt(factory)) == k + 2  # the system prompt, k messages, the new one


@pytest.mark.parametrize("seed", range(4))
async def test_running_counts_that_disagree_with_the_texts_change_no_prompt(chat_db, seed, monkeypatch):
    """Rows written by something that did not keep the counts (or kept them wrong) make the read
    longer, never the prompt different."""
    service, factory, _ = chat_db
    rng = random.Random(100 + seed)
    _small_pages(monkeypatch, rng)
    await _configure(factory, service, "Be brief.", rng.choice([150, 400, 1_000]))
    session_id = await _conversation(service, factory, rng, steps=12)
    async with factory() as s:
        for message in await _enabled(factory, session_id):
            wrong = rng.choice([0, message.running_tokens // 2, message.running_tokens * 3, rng.randint(0, 5_000)])
            await s.exec(sa.update(Message).where(Message.id == message.id).values(running_tokens=wrong))
        await s.commit()
    for _ in range(3):
        await _exchange(service, factory, session_id, "send", rng, counts_kept=False)


# --- pages ---------------------------------------------------------------------------------------


async def _send_and_answer(service, factory, session_id, text) -> None:
    stored = await service.run_exchange(c.RunExchange(user_id=USER, plan_id=FREE, session_id=session_id, kind="send",
                                                      content=text, exchange_id=uuid4()))
    await service.on_reply_completed(ReplyCompleted(
        exchange_id=await _exchange_id_of(factory, stored.user_message.message_id), session_id=session_id,
        user_id=USER, model="google/gemini-pro", content=f"re: {text}",
        usage=Usage(prompt_tokens=9, completion_tokens=3, total_tokens=12)))


@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_limit_and_before_walk_a_growing_conversation_exactly_once(chat_db, limit):
    service, factory, _ = chat_db
    session = await _session(service)
    for i in range(11):
        await _send_and_answer(service, factory, session.id, f"old {i}")
    existing = [m.message_id for m in await _enabled(factory, session.id)]

    page = await service.page_messages(c.ListMessages(user_id=USER, session_id=session.id, limit=limit))
    newest_seen = page.messages[-1].message_id
    walked = [m.message_id for m in page.messages]
    n = 0
    while page.has_more:
        await _send_and_answer(service, factory, session.id, f"new {n}")  # arrives while the client scrolls up
        n += 1
        page = await service.page_messages(c.ListMessages(user_id=USER, session_id=session.id, limit=limit,
                                                          before=walked[0]))
        assert page.messages, "has_more promised older messages"
        walked = [m.message_id for m in page.messages] + walked
    assert walked == existing  # every message before the first page's newest, once, in order
    assert len(set(walked)) == len(walked)
    newer = await service.page_messages(c.ListMessages(user_id=USER, session_id=session.id, after=newest_seen))
    assert [m.message_id for m in newer.messages] == [m.message_id for m in await _enabled(factory, session.id)][
        len(existing):]


async def test_the_wire_list_is_exactly_the_contract_of_every_message(chat_db):
    """The list is built from rows without objects: it must say what MessageOut says, field for field."""
    service, factory, clock = chat_db
    session = await _session(service)
    await _send_and_answer(service, factory, session.id, "Hello")
    clock.advance(seconds=1.25)
    enabled = await _enabled(factory, session.id)
    await _exchange(service, factory, session.id, "edit", random.Random(1), target=enabled[0])
    await _send_and_answer(service, factory, session.id, "Again")

    wire = await service.message_page_wire(c.ListMessages(user_id=USER, session_id=session.id))
    async with factory() as s:
        rows = (await s.exec(select(Message).where(Message.session_id == session.id, Message.disabled.is_(False))
                             .order_by(Message.id))).all()
    assert wire == {"messages": [message_out(m).model_dump(mode="json") for m in rows], "has_more": False}


# --- a 10,000-message session --------------------------------------------------------------------


async def _long_session(service, factory, clock, count: int) -> int:
    """A session of `count` messages written straight into chat's tables, as chat writes them."""
    session = await _session(service)
    rows, running = [], 0
    start = clock.now() - timedelta(days=30)
    for i in range(count):
        kind = "user" if i % 2 == 0 else "assistant"
        content = f"message {i} " + WORDS[i % len(WORDS)] * (i % 7)
        tokens = count_text(content)
        running += MESSAGE_OVERHEAD + tokens
        rows.append({"message_id": uuid4(), "session_id": session.id, "user_id": USER, "message_type": kind,
                     "content": content, "tokens_count": tokens, "running_tokens": running, "image_url": "",
                     "created_at": start + timedelta(seconds=i), "disabled": False,
                     "reply_status": "completed" if kind == "user" else None,
                     "finish_reason": "stop" if kind == "assistant" else None})
    async with factory() as s:
        await s.exec(sa.insert(Message), params=rows)
        await s.commit()
    return session.id


async def test_a_10000_message_session_sends_and_lists_by_pages(chat_db, monkeypatch):
    service, factory, clock = chat_db
    await _configure(factory, service, "Be brief.", 2_000)
    session_id = await _long_session(service, factory, clock, 10_000)

    read = []
    page_of = ChatRepository.history_page

    async def counted(self, *args):
        rows = await page_of(self, *args)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(ChatRepository, "history_page", counted)
    rng = random.Random(7)
    await _exchange(service, factory, session_id, "send", rng)
    kept = len(await _sent_prompt(factory)) - 2  # less the system prompt and the new message
    assert 0 < kept < 10_000
    # Prepare and commit each read the history once: what fits, and at most a page's worth more.
    assert sum(read) <= 2 * (kept + history.FIRST_PAGE + 1), read
    await _check_running_counts(factory, session_id)

    enabled = await _enabled(factory, session_id)
    page = await service.page_messages(c.ListMessages(user_id=USER, session_id=session_id, limit=50))
    assert page.has_more and [m.message_id for m in page.messages] == [m.message_id for m in enabled[-50:]]
    older = await service.page_messages(c.ListMessages(user_id=USER, session_id=session_id, limit=50,
                                                       before=page.messages[0].message_id))
    assert [m.message_id for m in older.messages] == [m.message_id for m in enabled[-100:-50]]
    everything = await service.message_page_wire(c.ListMessages(user_id=USER, session_id=session_id))
    assert len(everything["messages"]) == len(enabled) and not everything["has_more"]

    # An edit far back disables the rest in one range and answers from the history before it.
    read.clear()
    target = next(m for m in enabled[-41:] if m.message_type == "user")
    await _exchange(service, factory, session_id, "edit", rng, target=target)
    await _check_running_counts(factory, session_id)
