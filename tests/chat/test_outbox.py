"""The outbox relay publishes each stored row once: a publish that fails mid-batch keeps only the
rows not yet confirmed, and stopping the relay never cuts a batch short (chat's graceful restart)."""

import asyncio

import pytest
from chat.outbox import OutboxRelay

from tests.chat.test_service import _outbox, _send, _session


class FakeBroker:
    """Records publishes; fails the `fail_at`-th one; holds each confirmation until `gate` is set
    (the broker has the message by then: a publish cancelled while waiting was still delivered)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.published: list[str] = []
        self.fail_at = fail_at
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def publish(self, body: dict, **kw) -> None:
        if self.fail_at is not None and len(self.published) + 1 == self.fail_at:
            self.fail_at = None
            raise ConnectionError("channel closed")
        self.published.append(kw["routing_key"])
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
    await asyncio.wait_for(broker.entered.wait(), 5)  # the relay is publishing the first row

    stopping = asyncio.create_task(relay.stop())
    await asyncio.sleep(0.05)
    broker.gate.set()
    await asyncio.wait_for(stopping, 5)
    assert len(broker.published) == 2 and len(set(broker.published)) == 2, broker.published
    assert await _outbox(factory) == []
