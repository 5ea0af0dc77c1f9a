"""The llm-worker on the real broker: deltas then exactly one completion, stop, titles, failures
and poison messages, with replies from the in-process emulator."""

import asyncio
import random
import uuid
from pathlib import Path

import pytest
from llm_worker.main import create_app

from shared.contracts.llm import ChatTurn, GenerateTitle
from shared.topology import LLM_GENERATE_REPLY, LLM_GENERATE_TITLE, Keys
from tests.llm_worker.conftest import worker_settings
from tests.llm_worker.support import (
    WAIT,
    final,
    listen,
    reply_command,
    send,
    send_reply,
    settle,
    stop,
    until,
    until_async,
)

COALESCE = 0.1  # seconds of deltas merged into one stream entry


@pytest.fixture(scope="module")
async def worker(vhost_url, redis_url, emulator, tmp_path_factory):
    media_root = tmp_path_factory.mktemp("media")
    settings = worker_settings(emulator, rabbit_url=vhost_url, redis_url=redis_url, media_root=str(media_root),
                               instance_id=f"test-{uuid.uuid4().hex[:8]}", worker_concurrency=8,
                               delta_interval_seconds=COALESCE)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield {**app.state.worker, "settings": settings, "media_root": media_root}


@pytest.fixture(scope="module")
async def channel(amqp, worker):
    channel = await amqp.channel()
    for name in (LLM_GENERATE_REPLY.name, LLM_GENERATE_TITLE.name, f"{LLM_GENERATE_REPLY.name}.dlq"):
        await (await channel.get_queue(name)).purge()
    yield channel
    await channel.close()


@pytest.fixture(scope="module")
async def events(channel):
    return await listen(channel)


async def test_reply_streams_deltas_then_exactly_one_completion(channel, events, deltas):
    command = reply_command("Tell me about Persian gardens")
    await send_reply(channel, command)
    completed = await settle(channel, events, command)
    # On the broker only the completion: the deltas went to the session's Redis stream.
    assert [key for key, body in events.events if body.get("exchange_id") == str(command.exchange_id)] == [
        Keys.REPLY_COMPLETED]
    deltas = await deltas.of(command)
    assert deltas, "no deltas were streamed"
    assert [d["seq"] for d in deltas] == list(range(len(deltas)))
    assert {d["attempt"] for d in deltas} == {1}
    assert "".join(d["delta"] for d in deltas) == completed["content"]
    assert completed["content"].startswith('You said: "Tell me about Persian gardens".')
    assert completed["model"] == "openai/gpt-4o-mini"
    assert completed["finish_reason"] == "stop" and completed["stopped"] is False
    usage = completed["usage"]
    assert usage["completion_tokens"] > 0 and usage["estimated"] is False
    assert float(usage["cost_usd"]) > 0
    assert completed["generation_id"].startswith("gen-")
    assert (completed["session_id"], completed["user_id"]) == (command.session_id, command.user_id)


async def test_a_paced_reply_is_coalesced_into_few_stream_entries(channel, events, deltas):
    # 80 chunks about 12 ms apart, like a real model: one entry per ~8 chunks, not one per chunk.
    command = reply_command("pace me [[reply:words=80 delay=0.012]]")
    await send_reply(channel, command)
    completed = await settle(channel, events, command)
    written = await deltas.of(command)
    assert "".join(d["delta"] for d in written) == completed["content"]
    assert len(completed["content"].split()) == 80
    assert 2 <= len(written) <= 20, [d["delta"] for d in written]


async def test_image_reply_is_saved_to_media(channel, events, worker):
    command = reply_command("draw a pomegranate", model="google/gemini-2.5-flash-image-preview",
                            modalities=["image", "text"])
    await send_reply(channel, command)
    completed = await settle(channel, events, command)
    assert len(completed["image_urls"]) == 1
    url = completed["image_urls"][0]
    assert url.startswith("/media/generated/") and url.endswith(".png")
    stored = Path(worker["media_root"]) / url.removeprefix("/media/")
    assert stored.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


async def test_follow_up_sends_the_stored_image_inline(channel, events, worker, emulator_admin):
    first = reply_command("draw a cypress", modalities=["image", "text"])
    await send_reply(channel, first)
    image_url = (await settle(channel, events, first))["image_urls"][0]
    follow_up = reply_command("make it blue", messages=[
        ChatTurn(role="user", content="make it blue", image_urls=[image_url]),
    ])
    await send_reply(channel, follow_up)
    await events.wait_for(lambda: final(events, follow_up))
    assert final(events, follow_up)[0]["content"].startswith('You said: "make it blue"')
    # Nothing else was in flight (settle waited for its marker), so this was the last request.
    sent = (await emulator_admin.get("/_emulator/stats")).json()["last_body"]["messages"][-1]["content"]
    assert sent[0] == {"type": "text", "text": "make it blue"}
    assert sent[1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_stop_cancels_upstream_and_completes_with_text_so_far(channel, events, deltas, emulator_admin):
    command = reply_command("a very long story [[reply:words=600 delay=0.02]]")
    await send_reply(channel, command)
    await deltas.wait_for(command, lambda found: len(found) >= 3)
    await stop(channel, command)
    completed = await settle(channel, events, command)
    assert completed["stopped"] is True
    assert completed["content"].startswith('You said: "a')
    assert 3 <= len(completed["content"].split()) < 600
    assert completed["usage"]["completion_tokens"] > 0
    written = await deltas.of(command)
    assert "".join(d["delta"] for d in written) == completed["content"]
    assert (await emulator_admin.get("/_emulator/stats")).json()["streams_disconnected"] >= 1


async def test_stop_that_arrives_before_the_command_is_honoured(channel, events, deltas, worker):
    command = reply_command("never mind")
    await stop(channel, command)
    stops = worker["service"].stops
    await asyncio.wait_for(until(lambda: command.exchange_id in stops._early), WAIT)
    await send_reply(channel, command)
    completed = await settle(channel, events, command)
    assert completed["stopped"] is True and completed["content"] == ""
    assert await deltas.of(command) == []


async def test_upstream_refusal_publishes_reply_failed(channel, events):
    command = reply_command("forbidden [[fault:http_400]]")
    await send_reply(channel, command)
    failed = await settle(channel, events, command)
    assert failed["code"] == "bad_request"
    assert "400" in failed["error"]
    assert events.of(command.exchange_id, Keys.REPLY_COMPLETED) == []


async def test_stream_broken_after_text_keeps_the_partial_reply(channel, events):
    command = reply_command("interrupted [[fault:cut_after=5]]")
    await send_reply(channel, command)
    completed = await settle(channel, events, command)
    assert completed["finish_reason"] == "error" and completed["stopped"] is False
    assert len(completed["content"].split()) == 5
    assert completed["usage"]["completion_tokens"] > 0


async def test_missing_usage_comes_from_generation_stats(channel, events):
    command = reply_command("no usage here [[fault:no_usage lag=1]]")
    await send_reply(channel, command)
    completed = await settle(channel, events, command)
    usage = completed["usage"]
    assert usage["estimated"] is False and float(usage["cost_usd"]) > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_title_is_generated_and_cleaned(channel, events):
    command = GenerateTitle(session_id=random.randint(10**9, 2 * 10**9), user_id=7, model="openai/gpt-4o-mini",
                            user_text="Planning a trip to Isfahan next spring", reply_text="Lovely idea.")
    await send(channel, Keys.GENERATE_TITLE, command.model_dump_json().encode())
    titled = await events.wait_for(lambda: [b for k, b in events.events if k == Keys.TITLE_GENERATED
                                             and b["command_id"] == str(command.message_id)])
    assert titled[0]["title"] == "Planning a trip to"
    assert titled[0]["session_id"] == command.session_id
    assert float(titled[0]["usage"]["cost_usd"]) > 0


async def test_title_failure_publishes_no_title(channel, events):
    command = GenerateTitle(session_id=1, user_id=7, model="openai/gpt-4o-mini",
                            user_text="please fail [[fault:http_401]]", reply_text="ok")
    await send(channel, Keys.GENERATE_TITLE, command.model_dump_json().encode())
    titled = await events.wait_for(lambda: [b for k, b in events.events if k == Keys.TITLE_GENERATED
                                             and b["command_id"] == str(command.message_id)])
    assert titled[0]["title"] is None


async def test_poison_messages_go_to_the_dead_letter_queue(channel, events):
    dlq = await channel.get_queue(f"{LLM_GENERATE_REPLY.name}.dlq")
    await dlq.purge()
    await send(channel, Keys.GENERATE_REPLY, b"{this is not json")
    await send(channel, Keys.GENERATE_REPLY, b'{"exchange_id": "not-a-uuid"}')
    dead = []
    async def two_dead() -> bool:
        message = await dlq.get(no_ack=True, fail=False)
        if message is not None:
            dead.append(message.body)
        return len(dead) == 2
    await asyncio.wait_for(until_async(two_dead), WAIT)
    assert sorted(dead) == sorted([b"{this is not json", b'{"exchange_id": "not-a-uuid"}'])
    command = reply_command("still alive?")
    await send_reply(channel, command)
    assert (await settle(channel, events, command))["content"].startswith('You said: "still alive?')


async def test_many_generations_run_at_once_up_to_the_concurrency(channel, events, worker, emulator_admin):
    commands = [reply_command(f"parallel {i} [[reply:words=30 delay=0.01]]") for i in range(12)]
    for command in commands:
        await send_reply(channel, command)
    await events.wait_for(lambda: all(final(events, c) for c in commands))
    assert all(final(events, c)[0]["content"].startswith(f'You said: "parallel {i}') for i, c in enumerate(commands))
    peak = (await emulator_admin.get("/_emulator/stats")).json()["streams_active_peak"]
    assert 1 < peak <= worker["settings"].worker_concurrency
