"""Chat use cases against a real SQLite database: access, sessions, exchanges, reply events, titles."""

import json
from uuid import uuid4

import pytest
from chat.models import Outbox
from chat.seed import BASIC, FREE, PREMIUM
from sqlmodel import select

from shared.contracts import chat as c
from shared.contracts.llm import ReplyCompleted, ReplyFailed, TitleGenerated, Usage
from shared.errors import AccessDenied, Conflict, NotFound, ValidationFailed
from shared.topology import Keys

USER, OTHER = 10, 11


async def _outbox(factory) -> list[tuple[str, dict]]:
    async with factory() as s:
        rows = (await s.exec(select(Outbox).order_by(Outbox.id))).all()
    return [(r.routing_key, json.loads(r.payload)) for r in rows]


async def _session(service, plan=FREE, chatbot_id=1, **kw) -> c.SessionOut:
    return await service.create_session(c.CreateSession(user_id=USER, plan_id=plan, chatbot_id=chatbot_id, **kw))


def _request(session_id, text="Hello", plan=FREE, kind="send", **kw) -> c.RunExchange:
    return c.RunExchange(user_id=USER, plan_id=plan, session_id=session_id, exchange_id=uuid4(), kind=kind,
                         content=text, **kw)


async def _send(service, session_id, text="Hello", plan=FREE, kind="send", **kw) -> c.ExchangeStored:
    return await service.run_exchange(_request(session_id, text, plan, kind, **kw))


async def _exchange_id_of(factory, message_id):
    from chat.models import Message

    async with factory() as s:
        return (await s.exec(select(Message.exchange_id).where(Message.message_id == message_id))).one()


async def _reply(service, factory, session_id, stored, text="Hi there!") -> ReplyCompleted:
    event = ReplyCompleted(
        exchange_id=await _exchange_id_of(factory, stored.user_message.message_id), session_id=session_id,
        user_id=USER, model="google/gemini-pro", content=text,
        usage=Usage(prompt_tokens=20, completion_tokens=5, total_tokens=25),
    )
    await service.on_reply_completed(event)
    return event


async def test_catalog_is_filtered_by_plan(chat_env):
    service, _, _ = chat_env
    free_bots = {b.name for b in await service.list_chatbots(c.CatalogQuery(plan_id=FREE))}
    premium_bots = {b.name for b in await service.list_chatbots(c.CatalogQuery(plan_id=PREMIUM))}
    assert free_bots == {"General Assistant"}
    assert premium_bots == {"General Assistant", "Creative Writer", "Technical Expert", "Image Generator"}
    free_models = {m.model_id for m in await service.list_models(c.CatalogQuery(plan_id=FREE))}
    basic_models = {m.model_id for m in await service.list_models(c.CatalogQuery(plan_id=BASIC))}
    assert free_models == {"google/gemini-pro", "openai/gpt-4o-mini"}
    assert "anthropic/claude-3-opus" in basic_models and "openai/gpt-4-turbo" not in basic_models


async def test_create_session_defaults_and_checks(chat_env):
    service, _, _ = chat_env
    session = await _session(service)
    assert session.title == "New Chat" and session.auto_generate_title
    assert session.ai_model.model_id == "google/gemini-pro"
    with pytest.raises(AccessDenied) as denied:
        await _session(service, chatbot_id=2)  # Creative Writer is Basic+Premium
    assert denied.value.details["code"] == "chatbot_access_denied"
    with pytest.raises(AccessDenied) as denied:
        await _session(service, ai_model_id="openai/gpt-4-turbo")
    assert denied.value.details["code"] == "model_access_denied"
    with pytest.raises(ValidationFailed) as invalid:
        await _session(service, ai_model_id="no/such-model")
    assert "ai_model_id" in invalid.value.details["fields"]
    with pytest.raises(ValidationFailed) as invalid:
        await _session(service, plan=PREMIUM, ai_model_id="google/gemini-2.5-flash-image-preview")
    assert "ai_model_id" in invalid.value.details["fields"]  # text chatbot, image model
    with pytest.raises(ValidationFailed):
        await _session(service, chatbot_id=999)


async def test_sessions_are_private_and_soft_deleted(chat_env):
    service, _, _ = chat_env
    session = await _session(service)
    with pytest.raises(NotFound):
        await service.get_session(c.SessionQuery(user_id=OTHER, session_id=session.id))
    await service.delete_session(c.SessionQuery(user_id=USER, session_id=session.id))
    with pytest.raises(NotFound):
        await service.get_session(c.SessionQuery(user_id=USER, session_id=session.id))
    assert (await service.list_sessions(c.ListSessions(user_id=USER))).count == 0


async def test_sessions_list_newest_updated_first(chat_env):
    service, _, clock = chat_env
    first = await _session(service)
    clock.advance(seconds=5)
    second = await _session(service)
    clock.advance(seconds=5)
    await service.update_session(c.UpdateSession(user_id=USER, session_id=first.id, plan_id=FREE, title="Renamed"))
    page = await service.list_sessions(c.ListSessions(user_id=USER))
    assert [s.id for s in page.items] == [first.id, second.id]
    renamed = page.items[0]
    assert renamed.title == "Renamed" and renamed.auto_generate_title is False


async def test_send_stores_message_and_queues_reply_through_outbox(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    stored = await _send(service, session.id, "What is the capital of France?")
    assert stored.user_message.reply_status == "queued"
    assert stored.user_message.tokens_count > 0
    published = await _outbox(factory)
    assert [key for key, _ in published] == [Keys.GENERATE_REPLY, Keys.REPLY_QUEUED]
    command = published[0][1]
    assert command["model"] == "google/gemini-pro" and command["max_tokens"] == 100
    assert command["messages"][0]["role"] == "system"
    assert command["messages"][-1] == {"role": "user", "content": "What is the capital of France?", "image_urls": []}


async def test_second_send_while_reply_in_progress_is_409(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    stored = await _send(service, session.id)
    with pytest.raises(Conflict) as conflict:
        await _send(service, session.id, "again")
    assert conflict.value.details["code"] == "reply_in_progress"
    await _reply(service, factory, session.id, stored)
    await _send(service, session.id, "now it works")



@pytest.mark.parametrize("replayed", ["while the reply streams", "after the reply is stored"])
async def test_a_redelivered_request_stores_nothing_twice(chat_env, replayed):
    """Chat killed after answering run_exchange but before acking the request gets it again."""
    service, factory, _ = chat_env
    session = await _session(service, auto_generate_title=False)
    request = _request(session.id)
    stored = await service.run_exchange(request)
    if replayed == "after the reply is stored":
        await _reply(service, factory, session.id, stored)
    outbox_before = await _outbox(factory)

    again = await service.run_exchange(request)

    assert again.user_message.message_id == stored.user_message.message_id
    assert await _outbox(factory) == outbox_before  # no second GenerateReply
    messages = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [m.message_type for m in messages].count("user") == 1
    if replayed == "after the reply is stored":  # the session is free for the next send
        await _send(service, session.id, "next")

async def test_reply_completed_is_stored_once_and_unlocks(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    stored = await _send(service, session.id)
    event = await _reply(service, factory, session.id, stored)
    await service.on_reply_completed(event)  # redelivered
    messages = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [m.message_type for m in messages] == ["user", "assistant"]
    assert messages[0].reply_status == "completed"
    assert messages[1].content == "Hi there!" and messages[1].tokens_count == 5
    assert messages[1].message_id == event.exchange_id
    keys = [k for k, _ in await _outbox(factory)]
    assert keys.count(Keys.REPLY_STORED) == 1
    assert keys.count(Keys.GENERATE_TITLE) == 1  # first reply of an auto-titled session


async def test_reply_failed_marks_message_and_unlocks(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    stored = await _send(service, session.id)
    exchange_id = await _exchange_id_of(factory, stored.user_message.message_id)
    failed = ReplyFailed(exchange_id=exchange_id, session_id=session.id, user_id=USER, error="upstream down")
    await service.on_reply_failed(failed)
    await service.on_reply_failed(failed)  # redelivered
    messages = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert messages[0].reply_status == "failed" and messages[0].reply_error == "upstream down"
    # The stream hears of the failure from chat, after it stored it, once.
    stored_failures = [body for key, body in await _outbox(factory) if key == Keys.REPLY_FAILURE_STORED]
    assert stored_failures == [{**stored_failures[0], "exchange_id": str(exchange_id), "session_id": session.id,
                                "user_id": USER, "error": "upstream down"}]
    await _send(service, session.id, "retry", kind="regenerate")  # a failed reply can be regenerated


async def test_edit_disables_later_messages_and_regenerates_from_there(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    first = await _send(service, session.id, "one")
    await _reply(service, factory, session.id, first, "reply one")
    second = await _send(service, session.id, "two")
    await _reply(service, factory, session.id, second, "reply two")
    edited = await _send(service, session.id, "one, edited", kind="edit", message_id=first.user_message.message_id)
    assert len(edited.disabled_message_ids) == 3
    assert edited.user_message.edited_at is not None and edited.user_message.content == "one, edited"
    messages = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [m.content for m in messages] == ["one, edited"]
    command = [p for k, p in await _outbox(factory) if k == Keys.GENERATE_REPLY][-1]
    assert [t["content"] for t in command["messages"][1:]] == ["one, edited"]  # disabled history never sent


async def test_edit_of_unknown_or_assistant_message_is_404(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    stored = await _send(service, session.id)
    event = await _reply(service, factory, session.id, stored)
    with pytest.raises(NotFound):
        await _send(service, session.id, "x", kind="edit", message_id=uuid4())
    with pytest.raises(NotFound):
        await _send(service, session.id, "x", kind="edit", message_id=event.exchange_id)


async def test_regenerate_replaces_last_reply(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    with pytest.raises(ValidationFailed):
        await _send(service, session.id, kind="regenerate")
    stored = await _send(service, session.id, "tell a joke")
    event = await _reply(service, factory, session.id, stored, "joke one")
    regenerated = await _send(service, session.id, None, kind="regenerate")
    assert regenerated.disabled_message_ids == [event.exchange_id]
    command = [p for k, p in await _outbox(factory) if k == Keys.GENERATE_REPLY][-1]
    assert command["messages"][-1]["content"] == "tell a joke"


async def _titling(service, factory, first_message: str) -> tuple[c.SessionOut, str]:
    """A session whose first exchange has been answered, and the id of the title command that sent."""
    session = await _session(service)
    stored = await _send(service, session.id, first_message)
    await _reply(service, factory, session.id, stored)
    title_cmd = [p for k, p in await _outbox(factory) if k == Keys.GENERATE_TITLE][0]
    return session, title_cmd["message_id"]


async def test_title_generated_sets_title_once(chat_env):
    service, factory, _ = chat_env
    session, command_id = await _titling(service, factory, "Explain quantum entanglement simply")
    event = TitleGenerated(session_id=session.id, user_id=USER, command_id=command_id, model="m", title="Quantum Entanglement Basics")
    await service.on_title_generated(event)
    await service.on_title_generated(event)
    got = await service.get_session(c.SessionQuery(user_id=USER, session_id=session.id))
    assert got.title == "Quantum Entanglement Basics"
    assert [k for k, _ in await _outbox(factory)].count(Keys.SESSION_TITLED) == 1


async def test_failed_title_falls_back_to_first_words(chat_env):
    service, factory, _ = chat_env
    session, command_id = await _titling(service, factory, "Plan a three day trip to Isfahan in spring")
    await service.on_title_generated(TitleGenerated(session_id=session.id, user_id=USER, command_id=command_id, model="m", title=None))
    got = await service.get_session(c.SessionQuery(user_id=USER, session_id=session.id))
    assert got.title == "Plan a three day trip"


async def test_stop_needs_a_reply_in_progress(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    with pytest.raises(Conflict) as conflict:
        await service.stop_reply(c.SessionQuery(user_id=USER, session_id=session.id))
    assert conflict.value.details["code"] == "no_reply_in_progress"
    await _send(service, session.id)
    await service.stop_reply(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [k for k, _ in await _outbox(factory)][-1] == Keys.REPLY_STOP_REQUESTED


async def test_plan_change_revokes_model_at_send(chat_env):
    service, _, _ = chat_env
    session = await _session(service, plan=BASIC, chatbot_id=2)  # Creative Writer on Claude (Basic)
    with pytest.raises(AccessDenied) as denied:
        await _send(service, session.id, plan=FREE)
    assert denied.value.details["code"] == "chatbot_access_denied"


@pytest.mark.parametrize("text, problem", [
    ("a\x00b", "Control characters"), ("bell\x07", "Control characters"), ("\u200b\u200c\u200d\u200e\ufeff ", "blank"),
])
async def test_text_rule_is_enforced_again_behind_the_gateway(chat_env, text, problem):
    """A NUL reaching PostgreSQL's insert answered 503: chat refuses it itself as a 400, for every text."""
    service, factory, _ = chat_env
    session = await _session(service)
    with pytest.raises(ValidationFailed) as invalid:
        await _send(service, session.id, text)
    assert problem in invalid.value.details["fields"]["message"][0]
    stored = await _send(service, session.id, "first")
    await _reply(service, factory, session.id, stored, "reply")
    with pytest.raises(ValidationFailed) as invalid:
        await _send(service, session.id, text, kind="edit", message_id=stored.user_message.message_id)
    assert "content" in invalid.value.details["fields"]
    for update in (c.UpdateSession(user_id=USER, session_id=session.id, plan_id=FREE, title=text),):
        with pytest.raises(ValidationFailed) as invalid:
            await service.update_session(update)
        assert "title" in invalid.value.details["fields"]
    with pytest.raises(ValidationFailed):
        await _session(service, title=text)
    messages = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [m.content for m in messages] == ["first", "reply"]


async def test_persian_text_keeps_its_zero_width_non_joiner(chat_env):
    service, _, _ = chat_env
    session = await _session(service)
    stored = await _send(service, session.id, "می\u200cخواهم")
    assert stored.user_message.content == "می\u200cخواهم"
