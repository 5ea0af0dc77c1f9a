"""The worker reads a prompt passed by reference (shared.prompt_refs) from the real Redis, and ends a
command whose prompt is gone with one clean `ReplyFailed`."""

import uuid

from shared.bounds import MAX_BROKER_MESSAGE_BYTES
from shared.cache import make_redis
from shared.contracts.llm import ChatTurn
from shared.prompt_refs import INLINE_PROMPT_BYTES, UNAVAILABLE, PromptStore
from tests.llm_worker.support import reply_command, send_reply, settle
from tests.llm_worker.test_worker import channel, events, worker  # noqa: F401 - the module's fixtures


async def test_a_prompt_by_reference_is_read_and_answered(channel, events, redis_url):  # noqa: F811
    history = [ChatTurn(role="user" if n % 2 == 0 else "assistant", content=f"دریا و آسمان {n} " * 400)
               for n in range(40)]
    command = reply_command("What is under the sea?")
    command = command.model_copy(update={"messages": [*history, *command.messages]})  # contracts are frozen
    body = command.model_dump(mode="json")
    size = len(command.model_dump_json().encode())
    assert size > 4 * MAX_BROKER_MESSAGE_BYTES
    redis = make_redis(redis_url)
    try:
        slim = await PromptStore(redis, ttl_seconds=60).offload(body, size)
    finally:
        await redis.aclose()
    assert slim["messages"] == [] and slim["prompt_ref"]
    sent = type(command).model_validate(slim)
    assert len(sent.model_dump_json().encode()) < INLINE_PROMPT_BYTES
    await send_reply(channel, sent)
    outcome = await settle(channel, events, sent)
    # The emulator echoes the last user turn: it can only have come from the stored prompt.
    assert "What is under the sea?" in outcome.get("content", ""), outcome


async def test_a_prompt_that_is_gone_ends_in_one_reply_failed(channel, events):  # noqa: F811
    for ref in (f"mobix:prompt:{uuid.uuid4()}", "mobix:gw:sessions:1"):  # expired; not a prompt's key
        command = reply_command("unused", messages=[], prompt_ref=ref)
        await send_reply(channel, command)
        outcome = await settle(channel, events, command)
        assert outcome["code"] == UNAVAILABLE and outcome["exchange_id"] == str(command.exchange_id), outcome
