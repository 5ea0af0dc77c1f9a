"""Worker shutdown on the real broker: a graceful stop finishes what it holds; a worker that dies
mid-reply leaves the command unacked, and another worker produces the reply (attempt 2)."""

import uuid

import pytest
from llm_worker.main import create_app

from shared.topology import LLM_GENERATE_REPLY
from tests.llm_worker.conftest import worker_settings
from tests.llm_worker.support import final, listen, reply_command, send_reply


def make_worker(vhost_url, redis_url, emulator, tmp_path, **overrides):
    settings = worker_settings(emulator, rabbit_url=vhost_url, redis_url=redis_url, media_root=str(tmp_path),
                               instance_id=f"test-{uuid.uuid4().hex[:8]}", **overrides)
    return create_app(settings)


@pytest.fixture
async def channel(amqp):
    channel = await amqp.channel()
    await (await channel.get_queue(LLM_GENERATE_REPLY.name)).purge()
    yield channel
    await channel.close()


async def test_graceful_stop_finishes_the_generation_in_hand(vhost_url, redis_url, emulator, tmp_path, channel,
                                                              deltas):
    events = await listen(channel)
    app = make_worker(vhost_url, redis_url, emulator, tmp_path, graceful_timeout_seconds=30)
    command = reply_command("finish me [[reply:words=50 delay=0.02]]")
    async with app.router.lifespan_context(app):
        await send_reply(channel, command)
        await deltas.wait_for(command)
    # The worker is gone and no other runs: only the generation it held can have completed.
    completed = (await events.wait_for(lambda: final(events, command)))[0]
    assert completed["stopped"] is False and completed["finish_reason"] == "stop"
    assert len(completed["content"].split()) == 50
    assert {d["attempt"] for d in await deltas.of(command)} == {1}
    queue = await channel.declare_queue(LLM_GENERATE_REPLY.name, passive=True)
    assert queue.declaration_result.message_count == 0  # acked, not handed back


async def test_a_worker_dying_mid_reply_hands_the_command_to_another(vhost_url, redis_url, emulator, tmp_path,
                                                                     channel, deltas):
    events = await listen(channel)
    command = reply_command("survive me [[reply:words=150 delay=0.01]]")
    # A graceful timeout far shorter than the reply: the connection closes with the command unacked.
    doomed = make_worker(vhost_url, redis_url, emulator, tmp_path, graceful_timeout_seconds=0.1)
    async with doomed.router.lifespan_context(doomed):
        await send_reply(channel, command)
        await deltas.wait_for(command)
    survivor = make_worker(vhost_url, redis_url, emulator, tmp_path)
    async with survivor.router.lifespan_context(survivor):
        done = await events.wait_for(lambda: final(events, command), timeout=40)
    assert len(done) == 1
    completed = done[0]
    assert completed["stopped"] is False and len(completed["content"].split()) == 150
    written = await deltas.of(command)
    assert {d["attempt"] for d in written} == {1, 2}
    # In the stream, the first attempt's deltas all come before the second's (a reader starts over).
    assert [d["attempt"] for d in written] == sorted(d["attempt"] for d in written)
    second = [d for d in written if d["attempt"] == 2]
    assert "".join(d["delta"] for d in second) == completed["content"]
