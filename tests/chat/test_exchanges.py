"""One exchange in one request (architecture §3): chat claims the session, has billing admit, stores.
What can happen while billing admits, and how every way out that stores nothing frees the claim and
releases the reservation through the outbox (`ExchangeAbandoned`)."""

import json
from uuid import uuid4

import pytest
from chat.repository import ChatRepository

from shared.contracts import chat as c
from shared.db import transaction
from shared.errors import Conflict, LimitExceeded, NotFound, Unavailable
from shared.topology import Keys
from tests.chat.test_service import USER, _request, _send, _session


async def _abandoned(factory) -> list[str]:
    """Exchange ids of the queued `ExchangeAbandoned` events (billing releases their reservations)."""
    async with factory() as s:
        pending = await ChatRepository(s).pending_outbox(100)
    return [json.loads(row.payload)["exchange_id"] for row in pending if row.routing_key == "chat.exchange_abandoned"]


async def _contents(service, session_id: int) -> list[str]:
    return [m.content for m in await service.list_messages(c.SessionQuery(user_id=USER, session_id=session_id))]


async def test_one_request_admits_with_the_prompt_it_built_and_stores(chat_env, billing):
    service, factory, _ = chat_env
    session = await _session(service)
    request = _request(session.id, "What is the capital of France?")
    stored = await service.run_exchange(request)
    [admitted] = billing.requests
    assert admitted.exchange_id == request.exchange_id and admitted.model == "google/gemini-pro"
    assert admitted.prompt_tokens > 0 and not admitted.is_image
    assert stored.rate_limit is not None and stored.rate_limit.remaining == 9  # the 201's headers
    assert await _contents(service, session.id) == ["What is the capital of France?"]
    assert await _abandoned(factory) == []


async def test_second_of_two_sends_at_once_is_409_before_any_admission(chat_env, billing):
    """A double click: the first request claims the session, so the second is 409 before billing is
    asked (a reservation it could be denied for would answer 429)."""
    service, _, _ = chat_env
    session = await _session(service)
    conflicts = []

    async def double_click() -> None:
        with pytest.raises(Conflict) as conflict:
            await _send(service, session.id, "two")
        conflicts.append(conflict.value.details["code"])

    billing.during = double_click
    await _send(service, session.id, "one")
    assert conflicts == ["reply_in_progress"]
    assert len(billing.requests) == 1
    assert await _contents(service, session.id) == ["one"]


async def test_a_denied_exchange_frees_the_session_and_releases_nothing(chat_env, billing):
    service, factory, _ = chat_env
    session = await _session(service)
    billing.denial = LimitExceeded("You have reached your hourly messages limit.", limit={"name": "hourly_messages"})
    with pytest.raises(LimitExceeded) as denied:
        await _send(service, session.id, "denied")
    assert denied.value.details["limit"] == {"name": "hourly_messages"}  # passed on as billing said it
    assert await _abandoned(factory) == []  # billing reserved nothing
    billing.denial = None
    await _send(service, session.id, "next")
    assert await _contents(service, session.id) == ["next"]


async def test_an_admission_without_an_answer_is_released_by_an_event(chat_env, billing):
    """Billing may have reserved although its answer never came: chat queues `ExchangeAbandoned`."""
    service, factory, _ = chat_env
    session = await _session(service)
    billing.denial = Unavailable("billing.admit did not answer in time")
    request = _request(session.id, "lost")
    with pytest.raises(Unavailable):
        await service.run_exchange(request)
    assert await _abandoned(factory) == [str(request.exchange_id)]
    billing.denial = None
    await _send(service, session.id, "next")


async def test_session_deleted_while_billing_admits_is_not_found_and_released(chat_env, billing):
    service, factory, _ = chat_env
    session = await _session(service)

    async def delete() -> None:
        await service.delete_session(c.SessionQuery(user_id=USER, session_id=session.id))

    billing.during = delete
    request = _request(session.id)
    with pytest.raises(NotFound):
        await service.run_exchange(request)
    assert await _abandoned(factory) == [str(request.exchange_id)]


async def test_an_exchange_its_caller_gave_up_on_is_never_stored(chat_env, billing):
    """The gateway got no answer in time and abandoned the exchange while billing was admitting it:
    the claim is freed, the store that follows is 409 and nothing is stored; the reservation is
    released (the abandon and the failed store each queue a release; billing's is idempotent)."""
    service, factory, _ = chat_env
    session = await _session(service)
    request = _request(session.id, "gave up")
    answers = []

    async def gateway_gives_up() -> None:
        abandon = c.AbandonExchange(user_id=USER, session_id=session.id, exchange_id=request.exchange_id)
        answers.append(await service.abandon_exchange(abandon))

    billing.during = gateway_gives_up
    with pytest.raises(Conflict):
        await service.run_exchange(request)
    assert answers == [None]
    assert set(await _abandoned(factory)) == {str(request.exchange_id)}
    await _send(service, session.id, "next")
    assert await _contents(service, session.id) == ["next"]


async def test_abandoning_a_stored_exchange_answers_it_and_keeps_the_claim(chat_env, billing):
    """The store happened but its answer was lost: abandon finds it and the reply stays in progress."""
    service, factory, _ = chat_env
    session = await _session(service)
    request = _request(session.id, "stored")
    stored = await service.run_exchange(request)
    found = await service.abandon_exchange(
        c.AbandonExchange(user_id=USER, session_id=session.id, exchange_id=request.exchange_id))
    assert found is not None and found.user_message.message_id == stored.user_message.message_id
    assert await _abandoned(factory) == []
    with pytest.raises(Conflict):
        await _send(service, session.id, "too early")


async def test_abandoning_an_unknown_exchange_changes_nothing(chat_env):
    """An abandon that arrives before chat claimed anything (or after chat gave up itself) frees
    nothing and queues nothing: whoever frees a claim queues its release."""
    service, factory, _ = chat_env
    session = await _session(service)
    abandon = c.AbandonExchange(user_id=USER, session_id=session.id, exchange_id=uuid4())
    assert await service.abandon_exchange(abandon) is None
    assert await _abandoned(factory) == []


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
    request = _request(session.id, "never answered")
    await service.run_exchange(request)
    assert await service.fail_stale_exchanges() == 0  # not yet stale
    clock.advance(seconds=service.settings.reply_stale_after_seconds + 1)
    assert await service.fail_stale_exchanges() == 1
    [message] = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert (message.reply_status, message.reply_error) == ("failed", "The reply timed out.")
    assert await _abandoned(factory) == [str(request.exchange_id)]
    async with factory() as s:  # streams hear of it too
        pending = await ChatRepository(s).pending_outbox(100)
    failures = [json.loads(row.payload) for row in pending if row.routing_key == Keys.REPLY_FAILURE_STORED]
    assert [(f["exchange_id"], f["error"]) for f in failures] == [(str(request.exchange_id), "The reply timed out.")]
    await _send(service, session.id, "the session is free")


async def _orphan_claim(factory, clock, session_id: int):
    """A claim whose request died inside chat after claiming (chat killed before storing or
    freeing it)."""
    orphan = uuid4()
    async with transaction(factory) as s:
        assert await ChatRepository(s).claim_session(session_id, orphan, clock.now(), clock.now())
    return orphan


async def test_a_claim_never_stored_nor_freed_frees_the_session_soon_and_is_released(chat_env):
    """It stops blocking the session once older than any request can last, not after the whole
    reply deadline, and billing is told to release what it may hold for it."""
    service, factory, clock = chat_env
    session = await _session(service)
    orphan = await _orphan_claim(factory, clock, session.id)
    with pytest.raises(Conflict):
        await _send(service, session.id, "too soon")
    clock.advance(seconds=3 * service.settings.rpc_timeout_seconds + 1)
    await _send(service, session.id, "taken over")
    assert await _contents(service, session.id) == ["taken over"]
    assert await _abandoned(factory) == [str(orphan)]


async def test_a_redelivered_request_continues_on_the_claim_its_first_delivery_took(chat_env, billing):
    """Chat killed after claiming for a request that RabbitMQ then delivers again: the claim is the
    request's own, so it is not 409."""
    service, factory, clock = chat_env
    session = await _session(service)
    request = _request(session.id, "again")
    async with transaction(factory) as s:
        assert await ChatRepository(s).claim_session(session.id, request.exchange_id, clock.now(), clock.now())
    await service.run_exchange(request)
    assert await _contents(service, session.id) == ["again"]


async def test_two_deliveries_of_one_request_at_once_store_it_once(chat_env, billing):
    """RabbitMQ delivers a request again while its first delivery is still running (its channel
    closed): both hold the same claim, and the store step finds the other's message."""
    service, factory, _ = chat_env
    session = await _session(service)
    request = _request(session.id, "once")
    answers = []

    async def redelivered() -> None:
        answers.append(await service.run_exchange(request))

    billing.during = redelivered
    first = await service.run_exchange(request)
    assert answers[0].user_message.message_id == first.user_message.message_id
    assert await _contents(service, session.id) == ["once"]
    async with factory() as s:
        pending = await ChatRepository(s).pending_outbox(100)
    assert [row.routing_key for row in pending].count("llm.generate_reply") == 1
