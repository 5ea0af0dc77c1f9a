"""Reading a conversation (api.md §3.5): `reply_to` and `finish_reason` on messages, and pages by
`after`, `before` and `limit`, against a real SQLite database."""

from uuid import uuid4

import pytest

from shared.contracts import chat as c
from shared.contracts.llm import ReplyCompleted, Usage
from shared.errors import NotFound, ValidationFailed
from tests.chat.test_service import USER, _exchange_id_of, _send, _session


async def _answer(service, factory, session_id, stored, text="Hi there!", **event_fields) -> ReplyCompleted:
    event = ReplyCompleted(
        exchange_id=await _exchange_id_of(factory, stored.user_message.message_id), session_id=session_id,
        user_id=USER, model="google/gemini-pro", content=text,
        usage=Usage(prompt_tokens=20, completion_tokens=5, total_tokens=25), **event_fields,
    )
    await service.on_reply_completed(event)
    return event


async def _exchange(service, factory, session_id, text) -> None:
    await _answer(service, factory, session_id, await _send(service, session_id, text), f"re: {text}")


def _page(service, session_id, **kw):
    return service.page_messages(c.ListMessages(user_id=USER, session_id=session_id, **kw))


# --- reply_to and finish_reason ------------------------------------------------------------------


@pytest.mark.parametrize("reported,stopped,expected", [
    ("stop", False, "stop"),
    (None, False, "stop"),  # no reason given (an older worker): it ended normally
    ("length", False, "length"),
    ("error", False, "error"),  # the stream broke after some text: partial
    ("content_filter", False, "error"),
    ("stopped", True, "stopped"),
])
async def test_replies_say_which_message_they_answer_and_why_they_ended(chat_env, reported, stopped, expected):
    service, factory, _ = chat_env
    session = await _session(service)
    stored = await _send(service, session.id, "Tell me a story")
    await _answer(service, factory, session.id, stored, "Once upon", finish_reason=reported, stopped=stopped)
    mine, reply = (await _page(service, session.id)).messages
    assert (mine.reply_to, mine.finish_reason) == (None, None)  # user messages: null
    assert reply.reply_to == stored.user_message.message_id
    assert reply.finish_reason == expected


async def test_a_regenerated_reply_answers_the_same_user_message(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    stored = await _send(service, session.id, "Hello")
    await _answer(service, factory, session.id, stored)
    again = await _send(service, session.id, kind="regenerate")
    await _answer(service, factory, session.id, again, "Hello again", finish_reason="length")
    mine, reply = (await _page(service, session.id)).messages
    assert reply.content == "Hello again" and reply.reply_to == mine.message_id == stored.user_message.message_id
    assert reply.finish_reason == "length"


# --- pages ---------------------------------------------------------------------------------------


async def test_after_returns_only_the_later_messages(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    for text in ("one", "two", "three"):
        await _exchange(service, factory, session.id, text)
    everything = (await _page(service, session.id)).messages
    assert [m.content for m in everything] == ["one", "re: one", "two", "re: two", "three", "re: three"]
    later = await _page(service, session.id, after=everything[2].message_id)
    assert [m.content for m in later.messages] == ["re: two", "three", "re: three"]
    assert later.has_more is False
    assert (await _page(service, session.id, after=everything[-1].message_id)).messages == []


async def test_limit_and_before_walk_the_conversation_once_while_it_grows(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    for i in range(12):
        await _exchange(service, factory, session.id, f"m{i}")
    before_walk = [m.message_id for m in (await _page(service, session.id)).messages]
    page = await _page(service, session.id, limit=5)
    walked = [m.message_id for m in page.messages]
    assert walked == before_walk[-5:]
    rounds = 0
    while page.has_more:
        await _exchange(service, factory, session.id, f"new {rounds}")  # new messages arrive meanwhile
        page = await _page(service, session.id, limit=5, before=walked[0])
        assert 1 <= len(page.messages) <= 5
        walked = [m.message_id for m in page.messages] + walked
        rounds += 1
    assert walked == before_walk  # every message exactly once, in order: no gaps, no repeats
    assert rounds == 4  # 24 messages in pages of 5
    newest = await _page(service, session.id, limit=200)
    assert len(newest.messages) == 24 + 2 * rounds and newest.has_more is False


async def test_pages_skip_disabled_messages(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    first = await _send(service, session.id, "one")
    await _answer(service, factory, session.id, first)
    await _exchange(service, factory, session.id, "two")
    edited = await _send(service, session.id, "one, edited", kind="edit", message_id=first.user_message.message_id)
    await _answer(service, factory, session.id, edited, "re: one, edited")
    page = await _page(service, session.id, limit=1)
    assert [m.content for m in page.messages] == ["re: one, edited"] and page.has_more is True
    page = await _page(service, session.id, limit=5, before=page.messages[0].message_id)
    assert [m.content for m in page.messages] == ["one, edited"] and page.has_more is False


@pytest.mark.parametrize("limit", [0, -1, 201])
async def test_limit_outside_1_to_200_is_refused(chat_env, limit):
    service, _, _ = chat_env
    session = await _session(service)
    with pytest.raises(ValidationFailed) as invalid:
        await _page(service, session.id, limit=limit)
    assert "limit" in invalid.value.details["fields"]


@pytest.mark.parametrize("bound", ["after", "before"])
async def test_a_bound_that_is_not_a_message_of_the_session_is_refused(chat_env, bound):
    service, factory, _ = chat_env
    session, other = await _session(service), await _session(service)
    await _exchange(service, factory, other.id, "elsewhere")
    elsewhere = (await _page(service, other.id)).messages[0].message_id
    for message_id in (uuid4(), elsewhere):
        with pytest.raises(ValidationFailed) as invalid:
            await _page(service, session.id, **{bound: message_id})
        assert bound in invalid.value.details["fields"]
    with pytest.raises(NotFound):  # someone else's session stays a 404 first
        await service.page_messages(c.ListMessages(user_id=USER + 1, session_id=other.id, **{bound: elsewhere}))
