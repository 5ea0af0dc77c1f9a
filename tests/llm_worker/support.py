"""Helpers of the worker tests on the real broker and Redis: an event log, the deltas the worker wrote
to a session's Redis stream, and command publishers."""

import asyncio
import json
import random
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
from redis.asyncio import Redis

from shared.contracts.llm import ChatTurn, GenerateReply, StopRequested
from shared.reply_stream import DELTA_EVENT, stream_key
from shared.topology import COMMANDS, EVENTS, Keys

WAIT = 20.0  # only bounds a hang; every wait ends as soon as the event arrives


class EventLog:
    """Every llm.* event on a private queue bound to the events exchange."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self._changed = asyncio.Condition()

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process(), self._changed:
            self.events.append((message.routing_key, json.loads(message.body)))
            self._changed.notify_all()

    def of(self, exchange_id: uuid.UUID, key: str | None = None) -> list[dict]:
        return [body for k, body in self.events
                if body.get("exchange_id") == str(exchange_id) and (key is None or k == key)]

    async def wait_for(self, predicate: Callable[[], object], timeout: float = WAIT):
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
        return predicate()


class DeltaLog:
    """A reply's deltas as the worker wrote them to its session's Redis stream (never the broker)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def of(self, command: GenerateReply) -> list[dict]:
        entries = await self.redis.xrange(stream_key(command.session_id))
        found = [json.loads(fields["data"]) for _, fields in entries if fields["event"] == DELTA_EVENT]
        return [d for d in found if d["message_id"] == str(command.exchange_id)]

    async def wait_for(self, command: GenerateReply, predicate: Callable[[list[dict]], object] = bool,
                       timeout: float = WAIT) -> list[dict]:
        async def check() -> bool:
            return bool(predicate(await self.of(command)))
        await asyncio.wait_for(until_async(check), timeout)
        return await self.of(command)


async def listen(channel: aio_pika.abc.AbstractChannel) -> EventLog:
    log = EventLog()
    queue = await channel.declare_queue(f"test.llm-events.{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True)
    await queue.bind(EVENTS.name, routing_key="llm.#")
    await queue.consume(log.on_message)
    return log


def reply_command(text: str, **extra) -> GenerateReply:
    fields = {
        "exchange_id": uuid.uuid4(),
        "session_id": random.randint(10**9, 2 * 10**9),
        "user_id": random.randint(10**9, 2 * 10**9),
        "model": "openai/gpt-4o-mini",
        "messages": [ChatTurn(role="system", content="Be brief."), ChatTurn(role="user", content=text)],
        "max_tokens": 400,
    }
    fields.update(extra)
    return GenerateReply(**fields)


async def send(channel, key: str, body: bytes) -> None:
    exchange = await channel.get_exchange(COMMANDS.name)
    await exchange.publish(
        aio_pika.Message(body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        routing_key=key,
    )


async def send_reply(channel, command: GenerateReply) -> None:
    await send(channel, Keys.GENERATE_REPLY, command.model_dump_json().encode())


async def stop(channel, command: GenerateReply) -> None:
    exchange = await channel.get_exchange(EVENTS.name)
    event = StopRequested(exchange_id=command.exchange_id, session_id=command.session_id)
    await exchange.publish(aio_pika.Message(event.model_dump_json().encode(), content_type="application/json"),
                           routing_key=Keys.REPLY_STOP_REQUESTED)


def final(events: EventLog, command: GenerateReply) -> list[dict]:
    return events.of(command.exchange_id, Keys.REPLY_COMPLETED) + events.of(command.exchange_id, Keys.REPLY_FAILED)


async def settle(channel, events: EventLog, command: GenerateReply) -> dict:
    """The one final event of `command`. A marker command sent after it has finished too, so a
    duplicate would have had its chance to show up."""
    await events.wait_for(lambda: final(events, command))
    marker = reply_command("marker [[reply:words=2]]")
    await send_reply(channel, marker)
    await events.wait_for(lambda: final(events, marker))
    outcome = final(events, command)
    assert len(outcome) == 1, outcome
    return outcome[0]


async def until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def until_async(predicate: Callable[[], Awaitable[bool]]) -> None:
    while not await predicate():
        await asyncio.sleep(0.05)
