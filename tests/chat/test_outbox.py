"""The outbox relay publishes each stored row once: a publish that fails mid-batch keeps only the
rows not yet confirmed, and stopping the relay never cuts a batch short (chat's graceful restart)."""

import asyncio
from datetime import timedelta

import pytest
from chat import history
from chat.models import Outbox
from chat.outbox import LEFT_BEHIND, OutboxRelay
from chat.service import ChatService
from sqlalchemy import update

from shared.clock import utcnow
from shared.contracts.llm import GenerateReply, ReplyCompleted, Usage
from shared.db import transaction
from shared.topology import Keys
from tests.chat.test_service import USER, _exchange_id_of, _outbox, _send, _session


class FakeBroker:
    """Records publishes; fails the `fail_at`-th one; holds each confirmation until `gate` is set
    (the broker has the message by then: a publish cancelled while waiting was still delivered)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.published: list[str] = []
        self.bodies: list[dict] = []
        self.fail_at = fail_at
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def publish(self, body: dict, **kw) -> None:
        if self.fail_at is not None and len(self.published) + 1 == self.fail_at:
            self.fail_at = None
            raise ConnectionError("channel closed")
        self.published.append(kw["routing_key"])
        self.bodies.append(body)
        self.entered.set()
        await self.gate.wait()


async def test_rows_confirmed_before_a_failed_publish_are_not_published_again(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    await _send(service, session.id, "Hello")  # two rows: the command and the queued event
    broker = FakeBroker(fail_at=2)
    relay = OutboxRelay(factory, broker)

    with pytest.raises(ConnectionError):
        await relay.flush()
    assert len(await _outbox(factory)) == 1  # the confirmed row is gone, the failed one stays
    await relay.flush()
    assert len(broker.published) == 2 and len(set(broker.published)) == 2, broker.published
    assert await _outbox(factory) == []


async def test_stop_waits_for_the_batch_in_flight(chat_env):
    service, factory, _ = chat_env
    session = await _session(service)
    await _send(service, session.id, "Hello")
    broker = FakeBroker()
    broker.gate.clear()
    relay = OutboxRelay(factory, broker, poll_seconds=0.01)
    relay.start()
    relay.kick()  # rows the relay was not handed: it reads them from the table
    await asyncio.wait_for(broker.entered.wait(), 5)  # the relay is publishing the first row

    stopping = asyncio.create_task(relay.stop())
    await asyncio.sleep(0.05)
    broker.gate.set()
    await asyncio.wait_for(stopping, 5)
    assert len(broker.published) == 2 and len(set(broker.published)) == 2, broker.published
    assert await _outbox(factory) == []


async def test_rows_handed_over_after_a_commit_are_published_once(chat_db, billing):
    # The send hands the relay the rows it stored: published as they are, deleted, and not published
    # again by a flush that reads the table (on PostgreSQL the delete runs in autocommit).
    service, factory, clock = chat_db
    broker = FakeBroker()
    relay = OutboxRelay(factory, broker)
    handing = ChatService(factory, service.settings, clock, on_outbox=relay.committed, billing=billing)
    session = await _session(handing)
    await _send(handing, session.id, "Hello")
    assert await relay.publish_handed() == 2
    assert broker.published == [Keys.GENERATE_REPLY, Keys.REPLY_QUEUED]
    assert await _outbox(factory) == []
    assert await relay.flush() == 0 and await relay.publish_handed() == 0
    assert len(broker.published) == 2
    # The table is empty again: SQLite gives the next rows the same ids. They are new rows all the same.
    await _send(handing, (await _session(handing)).id, "Hello again")
    assert await relay.publish_handed() == 2
    assert broker.published[2:] == [Keys.GENERATE_REPLY, Keys.REPLY_QUEUED]
    # Read from the table first (a restarted chat's first read, while its consumers already store
    # rows), then handed over: out once.
    await _send(handing, (await _session(handing)).id, "And again")
    assert await relay.flush() == 2
    await relay.publish_handed()
    assert len(broker.published) == 6, broker.published


async def test_the_poll_takes_only_rows_left_behind(chat_db):
    # Rows nobody handed over (their process died after the commit) are published by the poll once
    # they are older than LEFT_BEHIND; younger ones may still be on their way in another replica.
    service, factory, _ = chat_db
    session = await _session(service)
    await _send(service, session.id, "Hello")  # a service without a relay: nothing handed over
    broker = FakeBroker()
    relay = OutboxRelay(factory, broker)
    assert await relay.flush(before=utcnow() - LEFT_BEHIND) == 0
    async with transaction(factory) as s:
        await s.exec(update(Outbox).values(created_at=utcnow() - LEFT_BEHIND - timedelta(seconds=1)))
    assert await relay.flush(before=utcnow() - LEFT_BEHIND) == 2
    assert await _outbox(factory) == []


async def test_stop_ends_the_relay_when_a_kick_comes_with_it(chat_env):
    # The last requests kick the relay as chat stops: the wake-up and the cancel land in the same
    # turn of the loop. On Python 3.11 a wait_for there returned instead of raising and stop()
    # waited forever (a restart under load hung in its shutdown).
    _, factory, _ = chat_env
    relay = OutboxRelay(factory, FakeBroker(), poll_seconds=30)
    relay.start()
    await asyncio.sleep(0.05)  # the relay waits for a kick
    relay.kick()
    await asyncio.wait_for(relay.stop(), 5)
    assert relay._task.done()


async def test_a_long_conversation_s_prompt_is_built_by_the_relay(chat_env):
    """A send past the first page of history leaves a plan in the outbox instead of the turns; the
    relay publishes a plain `GenerateReply` carrying every turn that fits, in order."""
    service, factory, _ = chat_env
    session = await _session(service)
    texts = []
    for i in range(history.FIRST_PAGE // 2 + 1):  # more messages than the first page holds
        stored = await _send(service, session.id, f"question {i}")
        await service.on_reply_completed(ReplyCompleted(
            exchange_id=await _exchange_id_of(factory, stored.user_message.message_id), session_id=session.id,
            user_id=USER, model="google/gemini-pro", content=f"answer {i}",
            usage=Usage(prompt_tokens=9, completion_tokens=3, total_tokens=12)))
        texts += [("user", f"question {i}"), ("assistant", f"answer {i}")]
    broker = FakeBroker()
    await OutboxRelay(factory, broker).flush()  # what the exchanges so far queued

    await _send(service, session.id, "and the last one")
    queued = [body for key, body in await _outbox(factory) if key == Keys.GENERATE_REPLY]
    assert len(queued) == 1 and queued[0]["messages"] == [] and history.PromptPlan.KEY in queued[0]
    await OutboxRelay(factory, broker).flush()

    published = GenerateReply.model_validate(broker.bodies[_last_command(broker)])
    turns = [(t.role, t.content) for t in published.messages]
    assert turns[0][0] == "system" and turns[1:] == [*texts, ("user", "and the last one")]
    assert history.PromptPlan.KEY not in broker.bodies[_last_command(broker)]
    assert await _outbox(factory) == []


def _last_command(broker: FakeBroker) -> int:
    return max(i for i, key in enumerate(broker.published) if key == Keys.GENERATE_REPLY)
