"""No body on RabbitMQ over 64 KiB however long the conversation (issue 20's bounded broker): a prompt
too big to ride on `GenerateReply` goes by reference through Redis and the worker still answers; a
reference that is gone ends the exchange cleanly (failed, session free, reservation released)."""

import asyncio
import itertools
import json
import time
import uuid
from typing import Self

import aio_pika
import pytest
import redis

from shared.bounded_messages import decoded
from shared.bounds import MAX_BROKER_MESSAGE_BYTES
from shared.prompt_refs import INLINE_PROMPT_BYTES, PREFIX
from tests.api.harness import create_session, new_user, send

WORDS = ["دریا", "آسمان", "کتاب", "باران", "کوه", "خورشید", "جنگل", "ستاره", "شهر", "رود", "sea", "sky"]


def long_text(seed: int, chars: int = 30_000) -> str:
    """Varied Persian words (two bytes a letter in UTF-8, six once JSON escapes them)."""
    words = itertools.cycle(WORDS[seed % len(WORDS):] + WORDS[: seed % len(WORDS)])
    text = ""
    for n, word in enumerate(words):
        text += f"{word}{n % 97} "
        if len(text) >= chars:
            return text[:chars].strip()
    raise AssertionError("unreachable")


class BrokerSpy:
    """A queue of our own bound to every command and event: each body the broker carried, as sent."""

    KEYS = (("commands", "llm.generate_reply"), ("commands", "llm.generate_title"), ("events", "#"))

    def __init__(self, rabbit_url: str) -> None:
        self.url, self.queue = rabbit_url, f"test.broker-spy.{uuid.uuid4().hex[:8]}"
        self.carried: list[tuple[str, int, dict]] = []

    async def _declare(self) -> None:
        async with await aio_pika.connect(self.url) as conn:
            queue = await (await conn.channel()).declare_queue(self.queue, auto_delete=False)
            for exchange, key in self.KEYS:
                await queue.bind(exchange, key)

    async def _drain(self) -> None:
        async with await aio_pika.connect(self.url) as conn:
            queue = await (await conn.channel()).declare_queue(self.queue, passive=True)
            while (message := await queue.get(fail=False)) is not None:
                await message.ack()
                body = json.loads(decoded(message.body, message.content_type))
                self.carried.append((message.routing_key or "", len(message.body), body))
            await queue.delete(if_unused=False, if_empty=False)

    def __enter__(self) -> Self:
        asyncio.run(self._declare())
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run(self._drain())


@pytest.fixture
def roomy(admin):
    """A plan without token limits and a model whose context holds a long conversation."""
    from bench.population import LIMIT_FIELDS

    tag = uuid.uuid4().hex[:6]
    plan = {"name": f"Roomy {tag}", "sku": f"ROOMY_{tag}", "price": "0", "duration_days": 30, "is_active": True,
            **{f: 0 for f in LIMIT_FIELDS}, "hourly_max_messages": 1000, "max_openrouter_cost_usd": "0"}
    created = admin.post("/api/admin/subscription-types/", json=plan)
    assert created.status_code == 201, created.text
    plan_id = created.json()["id"]
    model = admin.post("/api/admin/ai-models/", json={
        "name": f"Long context {tag}", "model_id": f"test/long-context-{tag}", "token_cost_multiplier": "1",
        "subscription_type_ids": [plan_id], "context_tokens": 1_000_000, "max_reply_tokens": 256,
    })
    assert model.status_code == 201, model.text
    return plan_id, model.json()["model_id"]


def _wait(client, session_id: int, message_id: str, timeout: float = 90) -> dict:
    return client.wait_for_reply(session_id, message_id, timeout=timeout)["user_message"]


def test_a_huge_prompt_goes_by_reference_and_is_answered(system, admin, roomy):
    plan_id, model = roomy
    client = new_user(system, plan_id, admin)
    session = create_session(client, ai_model_id=model)
    with BrokerSpy(system.rabbit_url) as spy:
        for turn in range(3):  # the third prompt holds ≈180 KB of UTF-8 (≈540 KB as escaped JSON)
            sent = send(client, session["id"], long_text(turn))
            assert sent.status_code == 201, sent.text
            assert _wait(client, session["id"], sent.json()["user_message"]["message_id"])["reply_status"] == "completed"
    commands = [body for key, _, body in spy.carried if key == "llm.generate_reply"
                and body["session_id"] == session["id"]]
    assert len(commands) == 3
    assert all(body["prompt_ref"] and body["messages"] == [] for body in commands)  # each over 32 KiB
    largest = max(size for _, size, _ in spy.carried)
    assert largest <= MAX_BROKER_MESSAGE_BYTES, largest
    # The user messages themselves travelled in events, compressed below the bound.
    queued = [size for key, size, body in spy.carried if key == "chat.reply_queued" and body["session_id"] == session["id"]]
    assert len(queued) == 3 and max(queued) < INLINE_PROMPT_BYTES


def test_a_prompt_that_is_gone_fails_the_exchange_cleanly(system, admin, roomy):
    plan_id, model = roomy
    client = new_user(system, plan_id, admin)
    session = create_session(client, ai_model_id=model)
    store = redis.Redis.from_url(system.redis_url)
    system.kill("llm-worker")  # the command waits in its queue while the prompt disappears
    try:
        sent = send(client, session["id"], long_text(5))
        assert sent.status_code == 201, sent.text
        deadline = time.monotonic() + 30
        while not (keys := list(store.scan_iter(match=f"{PREFIX}*"))):
            assert time.monotonic() < deadline, "the relay never stored the prompt"
            time.sleep(0.1)
        store.delete(*keys)  # as if it expired, or Redis lost it
    finally:
        system.start("llm-worker")
    message = _wait(client, session["id"], sent.json()["user_message"]["message_id"])
    assert message["reply_status"] == "failed", message
    # The reservation is released (the failed exchange counts nothing), and the session is free.
    deadline = time.monotonic() + 30
    while True:
        limits = {e["name"]: e for e in client.get("/api/users/usage/").json()["limits"]}
        if limits["hourly_messages"]["used"] == 0:
            break
        assert time.monotonic() < deadline, limits["hourly_messages"]
        time.sleep(0.2)
    again = send(client, session["id"], "Short this time.")
    assert again.status_code == 201, again.text
    assert _wait(client, session["id"], again.json()["user_message"]["message_id"])["reply_status"] == "completed"
