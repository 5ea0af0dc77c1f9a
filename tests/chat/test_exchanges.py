"""What can change between chat's prepare step and its commit step (billing admits in between)."""

from uuid import uuid4

import pytest

from chat.repository import ChatRepository
from chat.seed import FREE
from shared.contracts import chat as c
from shared.db import transaction
from shared.errors import Conflict, NotFound
from tests.chat.test_service import USER, _send, _session


async def _prepared(service, session_id: int, text: str = "Hello") -> c.CommitExchange:
    prepare = c.PrepareExchange(user_id=USER, plan_id=FREE, session_id=session_id, content=text)
    plan = await service.prepare_exchange(prepare)
    return c.CommitExchange(**prepare.model_dump(), exchange_id=plan.exchange_id, max_tokens=100)


async def test_session_deleted_after_prepare_is_not_found_at_commit(chat_env):
    service, _, _ = chat_env
    session = await _session(service)
    commit = await _prepared(service, session.id)
    await service.delete_session(c.SessionQuery(user_id=USER, session_id=session.id))
    with pytest.raises(NotFound):
        await service.commit_exchange(commit)


async def test_second_of_two_prepared_sends_is_409_at_commit(chat_env):
    service, _, _ = chat_env
    session = await _session(service)
    first, second = await _prepared(service, session.id, "one"), await _prepared(service, session.id, "two")
    await service.commit_exchange(first)
    with pytest.raises(Conflict) as conflict:
        await service.commit_exchange(second)
    assert conflict.value.details["code"] == "reply_in_progress"
    listed = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [m.content for m in listed] == ["one"]


async def test_claim_ignores_a_deleted_session(chat_env):
    """The conditional UPDATE that marks a reply in progress never claims a deleted session."""
    service, factory, clock = chat_env
    session = await _session(service)
    await _send(service, session.id)
    await service.delete_session(c.SessionQuery(user_id=USER, session_id=session.id))
    clock.advance(seconds=3600)  # the earlier reply is stale: only deletion stands in the way now
    async with transaction(factory) as s:
        assert not await ChatRepository(s).claim_reply(session.id, uuid4(), clock.now(), clock.now())
