"""What can change between chat's prepare step and its commit step (billing admits in between)."""

import json
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


async def test_second_of_two_sends_at_once_is_409_at_prepare_before_any_admission(chat_env):
    """A double click: the first prepare claims the session, so the second is 409 before billing
    is asked (a reservation it could be denied for would answer 429)."""
    service, _, _ = chat_env
    session = await _session(service)
    first = await _prepared(service, session.id, "one")
    with pytest.raises(Conflict) as conflict:
        await _prepared(service, session.id, "two")
    assert conflict.value.details["code"] == "reply_in_progress"
    await service.commit_exchange(first)
    listed = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [m.content for m in listed] == ["one"]


async def test_an_abandoned_claim_frees_the_session_and_a_late_commit_is_409(chat_env):
    service, _, _ = chat_env
    session = await _session(service)
    gave_up = await _prepared(service, session.id, "denied")
    abandon = c.AbandonExchange(user_id=USER, session_id=session.id, exchange_id=gave_up.exchange_id)
    assert await service.abandon_exchange(abandon) is None
    with pytest.raises(Conflict):  # the caller gave up: its commit must never happen afterwards
        await service.commit_exchange(gave_up)
    again = await _prepared(service, session.id, "next")
    await service.commit_exchange(again)
    listed = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [m.content for m in listed] == ["next"]


async def test_abandoning_a_stored_exchange_answers_it_and_keeps_the_claim(chat_env):
    """The commit happened but its answer was lost: abandon finds it and the reply stays in progress."""
    service, _, _ = chat_env
    session = await _session(service)
    commit = await _prepared(service, session.id, "stored")
    stored = await service.commit_exchange(commit)
    found = await service.abandon_exchange(
        c.AbandonExchange(user_id=USER, session_id=session.id, exchange_id=commit.exchange_id))
    assert found is not None and found.user_message.message_id == stored.user_message.message_id
    with pytest.raises(Conflict):
        await _prepared(service, session.id, "too early")


async def test_claim_ignores_a_deleted_session(chat_env):
    """The conditional UPDATE that marks a reply in progress never claims a deleted session."""
    service, factory, clock = chat_env
    session = await _session(service)
    await _send(service, session.id)
    await service.delete_session(c.SessionQuery(user_id=USER, session_id=session.id))
    clock.advance(seconds=3600)  # the earlier reply is stale: only deletion stands in the way now
    async with transaction(factory) as s:
        assert not await ChatRepository(s).claim_session(session.id, uuid4(), clock.now(), clock.now())


async def test_an_exchange_with_no_reply_past_its_deadline_is_failed_and_its_reservation_released(chat_env):
    """No exchange stays `queued` forever: past the deadline it is failed, the session is free and
    billing is told to release the reservation (ExchangeAbandoned through the outbox)."""
    service, factory, clock = chat_env
    session = await _session(service)
    commit = await _prepared(service, session.id, "never answered")
    await service.commit_exchange(commit)
    assert await service.fail_stale_exchanges() == 0  # not yet stale
    clock.advance(seconds=service.settings.reply_stale_after_seconds + 1)
    assert await service.fail_stale_exchanges() == 1
    [message] = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert (message.reply_status, message.reply_error) == ("failed", "The reply timed out.")
    async with factory() as s:
        pending = await ChatRepository(s).pending_outbox(100)
    abandoned = [row for row in pending if row.routing_key == "chat.exchange_abandoned"]
    assert [json.loads(row.payload)["exchange_id"] for row in abandoned] == [str(commit.exchange_id)]
    await service.commit_exchange(await _prepared(service, session.id, "the session is free"))


async def test_a_claim_never_committed_nor_abandoned_frees_the_session_soon(chat_env):
    """A gateway that died between prepare and commit leaves a claim with no stored exchange: it stops
    blocking the session once older than any request can last, not after the whole reply deadline."""
    service, _, clock = chat_env
    session = await _session(service)
    orphan = await _prepared(service, session.id, "gateway died")
    with pytest.raises(Conflict):
        await _prepared(service, session.id, "too soon")
    clock.advance(seconds=3 * service.settings.rpc_timeout_seconds + 1)
    await service.commit_exchange(await _prepared(service, session.id, "taken over"))
    with pytest.raises(Conflict):  # the orphan's late commit can no longer happen
        await service.commit_exchange(orphan)
