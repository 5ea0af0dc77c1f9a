"""A worker killed mid-reply, chat killed before publishing, poison messages and duplicate completions,
over real processes and broker: each message still gets exactly one reply, billed exactly once."""

import json
import signal
import time
from decimal import Decimal
from uuid import UUID

import pytest

from shared.contracts.llm import ReplyCompleted, Usage
from tests.faults.exactly_once import assert_exactly_once, settle
from tests.faults.probes import (
    as_uuid,
    bind,
    chat_messages,
    ledger_rows,
    outbox_rows,
    publish_raw,
    queue_depths,
    take_all,
    unbind,
)
from tests.faults.processes import emulator, start_extra_worker
from tests.faults.workload import PAID_MODEL, premium_user, send, wait_replied
from tests.support.sse import EventCollector

pytestmark = pytest.mark.timeout(300)  # the first test also starts the System
GENERATE_QUEUE = "llm-worker.generate_reply"


def _wait(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _exchange_of(system, user, message_id: str) -> UUID:
    row = next(r for r in chat_messages(system, user.session_id) if as_uuid(r["message_id"]) == UUID(message_id))
    return as_uuid(row["exchange_id"])


def _events(user, until: str) -> list[dict]:
    """The session's SSE events from its very first one (no race with the send) up to `until`."""
    url = f"{user.session_url}/stream/"
    collector = EventCollector(user.api.http, url, headers={"Last-Event-ID": "0-0"}, until=lambda e: e["event"] == until)
    return collector.start().wait(60)


def _dlq_depth(broker, queue: str) -> int:
    return queue_depths(broker.vhost, broker.ctl).get(f"{queue}.dlq", (0, 0))[0]


# --- 1. a worker killed mid-reply ------------------------------------------------------------------
@pytest.mark.parametrize("finisher", ["second worker", "restarted worker"])
def test_worker_killed_mid_reply_is_finished_by_another_once(system, broker, admin, finisher):
    user = premium_user(system, admin)
    emulator(system, "DELETE", "/_emulator/stats")
    # The next upstream request stalls after three chunks: the worker holds the command mid-reply
    # (deltas already out) until it is killed; the retried request streams normally.
    emulator(system, "POST", "/_emulator/faults", json={"faults": ["stall_after=3"]})
    sent = send(user, "Tell me a long story about the sea.")
    _events(user, until="reply.delta")  # the user is already reading the first attempt's text
    try:
        if finisher == "second worker":
            start_extra_worker(system, "llm-worker-2")  # starts after the first took the command
        system.kill("llm-worker", signal.SIGKILL)
        if finisher == "restarted worker":
            system.start("llm-worker")
        assert_exactly_once(system, broker, user, [sent["message_id"]])
        stats = emulator(system, "GET", "/_emulator/stats")
        assert stats["streams_started"] == 2 and stats["streams_completed"] == 1, stats
        # The stream shows the interrupted attempt, then the whole reply of the second one.
        events = _events(user, until="reply.completed")
        deltas = [e["data"] for e in events if e["event"] == "reply.delta"]
        assert {d["attempt"] for d in deltas} == {1, 2}, deltas
        final = "".join(d["delta"] for d in deltas if d["attempt"] == 2)
        assert final == events[-1]["data"]["content"] and final
    finally:
        if "llm-worker-2" in system.procs:
            system.kill("llm-worker-2", signal.SIGTERM)
            del system.procs["llm-worker-2"]
        if system.procs["llm-worker"].poll() is not None:
            system.start("llm-worker")


# --- 2. chat killed between storing and publishing --------------------------------------------------
def test_chat_killed_with_an_unpublished_outbox_publishes_it_after_restart(system, broker, admin):
    user = premium_user(system, admin)
    # Without its binding, the command is unroutable: the confirmed, mandatory publish fails and the
    # outbox row stays, exactly as if chat had died between its commit and the publish.
    unbind(broker.url, GENERATE_QUEUE, "commands", "llm.generate_reply")
    try:
        sent = send(user, "Hello after a crash")
        system.kill("chat", signal.SIGKILL)
    finally:
        bind(broker.url, GENERATE_QUEUE, "commands", "llm.generate_reply")
    exchange = _exchange_of(system, user, sent["message_id"])
    pending = [json.loads(r["payload"]) for r in outbox_rows(system) if r["routing_key"] == "llm.generate_reply"]
    assert exchange in {UUID(p["exchange_id"]) for p in pending}
    system.start("chat")
    assert_exactly_once(system, broker, user, [sent["message_id"]])
    assert outbox_rows(system) == []


def test_chat_killed_right_after_each_201_loses_no_reply(system, broker, admin):
    user = premium_user(system, admin)
    sent, caught = [], 0
    for i in range(5):
        sent.append(send(user, f"Message number {i}")["message_id"])
        system.kill("chat", signal.SIGKILL)  # at once: the relay may or may not have published
        caught += any(r["routing_key"] == "llm.generate_reply" for r in outbox_rows(system))
        system.start("chat")
        wait_replied(user, sent[-1:])
    print(f"chat killed with the command still in its outbox {caught} of 5 times")
    assert_exactly_once(system, broker, user, sent)


# --- 4. poison messages -----------------------------------------------------------------------------
def test_undecodable_generate_reply_is_dead_lettered_and_the_next_is_processed(system, broker, admin):
    take_all(broker.url, f"{GENERATE_QUEUE}.dlq")
    poison = [b"{not json", json.dumps({"exchange_id": "not-a-uuid", "messages": 3}).encode()]
    publish_raw(broker.url, "commands", "llm.generate_reply", *poison)
    _wait(lambda: _dlq_depth(broker, GENERATE_QUEUE) == len(poison), "the poison in the dead letters")
    user = premium_user(system, admin)
    sent = send(user, "Are you still there?")
    assert_exactly_once(system, broker, user, [sent["message_id"]])
    dead = take_all(broker.url, f"{GENERATE_QUEUE}.dlq")
    assert sorted(m.body for m in dead) == sorted(poison)
    # Rejected at once, not retried up to the delivery limit: a body that cannot decode never will.
    assert [m.headers["x-death"][0]["reason"] for m in dead] == ["rejected", "rejected"]


def test_always_failing_reply_completed_ends_in_the_dead_letters(system, broker, admin):
    queue = "chat.reply_completed"
    take_all(broker.url, f"{queue}.dlq")
    user = premium_user(system, admin)
    # Decodes fine, but chat cannot store it (no database integer holds this session id): every
    # delivery fails, and the delivery limit must end the loop.
    event = ReplyCompleted(exchange_id=UUID(int=7), session_id=2**70, user_id=user.id, model=PAID_MODEL,
                           content="never stored", usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2))
    publish_raw(broker.url, "events", "llm.reply_completed", event.model_dump_json().encode(),
                message_id=str(event.message_id))
    _wait(lambda: _dlq_depth(broker, queue) == 1, "the failing completion in the dead letters")
    settle(broker)
    dead = take_all(broker.url, f"{queue}.dlq")
    assert [json.loads(m.body)["message_id"] for m in dead] == [str(event.message_id)]
    deaths = dead[0].headers.get("x-death") or []
    assert deaths and deaths[0]["reason"] == "delivery_limit", dead[0].headers
    sent = send(user, "And now a normal one")
    assert_exactly_once(system, broker, user, [sent["message_id"]])


# --- 5. duplicate completions -----------------------------------------------------------------------
def test_duplicate_reply_completed_is_stored_and_billed_once(system, broker, admin):
    user = premium_user(system, admin)
    emulator(system, "DELETE", "/_emulator/stats")
    # No worker: the command waits, and the only completions are the ones published here.
    system.kill("llm-worker", signal.SIGKILL)
    try:
        sent = send(user, "Say something twice")
        exchange = _exchange_of(system, user, sent["message_id"])
        event = ReplyCompleted(exchange_id=exchange, session_id=user.session_id, user_id=user.id, model=PAID_MODEL,
                               content="the first completion", usage=Usage(
                                   prompt_tokens=11, completion_tokens=7, total_tokens=18, cost_usd=Decimal("0.000123")))
        body = event.model_dump_json().encode()
        publish_raw(broker.url, "events", "llm.reply_completed", body, body, message_id=str(event.message_id))
        wait_replied(user, [sent["message_id"]])
    finally:
        # The restarted worker takes the waiting command and completes the exchange a third time.
        system.start("llm-worker")
    _wait(lambda: emulator(system, "GET", "/_emulator/stats")["streams_completed"] == 1, "the worker's completion")
    assert_exactly_once(system, broker, user, [sent["message_id"]])
    reply = wait_replied(user, [sent["message_id"]])[-1]
    assert reply["content"] == "the first completion" and reply["message_id"] == str(exchange)
    # Billed on the first completion's usage (18 tokens, $0.000123), not on the worker's later one.
    assert [(r["effective_tokens"], r["cost_nano"]) for r in ledger_rows(system, user.id)] == [(18, 123_000)]
