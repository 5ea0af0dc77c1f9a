"""Bodies on the real broker stay under 64 KiB (shared.bounded_messages): a big JSON body travels
compressed and arrives whole; one still over the bound is refused before it reaches RabbitMQ."""

import asyncio
import base64
import os
import uuid

import aio_pika
import pytest
from faststream.rabbit import RabbitQueue, RabbitRouter
from pydantic import BaseModel

from shared import metrics
from shared.bounded_messages import DEFLATED_JSON, OversizeMessage
from shared.bounds import MAX_BROKER_MESSAGE_BYTES
from shared.broker import make_broker


class Note(BaseModel):
    text: str


def persian(chars: int) -> str:
    words = ["دریا", "آسمان", "کتاب", "باران", "کوه", "خورشید"]
    return " ".join(f"{words[n % 6]}{n}" for n in range(chars // 6))[:chars]


@pytest.fixture
async def queues(rabbit_url):
    name = f"test-bounded.{uuid.uuid4().hex[:8]}"
    received: list[Note] = []
    router = RabbitRouter()

    @router.subscriber(RabbitQueue(name, auto_delete=True))
    async def on_note(note: Note) -> None:
        received.append(note)

    broker = make_broker(rabbit_url)
    broker.include_router(router)
    await broker.start()
    connection = await aio_pika.connect(rabbit_url)
    channel = await connection.channel()
    spy = await channel.declare_queue(f"{name}.spy", auto_delete=True)
    yield broker, name, spy, received
    await connection.close()
    await broker.stop()


async def test_a_big_body_travels_compressed_and_arrives_whole(queues):
    broker, name, spy, received = queues
    note = Note(text=persian(32_000))  # ≈190 KB once JSON escapes it
    await broker.publish(note, routing_key=name)
    await broker.publish(note, routing_key=spy.name)
    async with asyncio.timeout(10):
        while not received:
            await asyncio.sleep(0.02)
    assert received == [note]
    raw = await spy.get(timeout=5)
    assert raw.content_type == DEFLATED_JSON and len(raw.body) < MAX_BROKER_MESSAGE_BYTES // 4
    small = Note(text="short")
    await broker.publish(small, routing_key=spy.name)
    raw = await spy.get(timeout=5)
    assert raw.content_type == "application/json" and raw.body == b'{"text":"short"}'


async def test_a_body_over_the_bound_is_refused_and_counted(queues):
    broker, _, spy, _ = queues
    noise = Note(text=base64.b64encode(os.urandom(2 * MAX_BROKER_MESSAGE_BYTES)).decode())  # incompressible
    before = metrics.BROKER_OVERSIZE.labels("message")._value.get()
    with pytest.raises(OversizeMessage):
        await broker.publish(noise, routing_key=spy.name)
    assert metrics.BROKER_OVERSIZE.labels("message")._value.get() == before + 1
    assert await spy.get(fail=False, timeout=1) is None  # nothing reached the broker
