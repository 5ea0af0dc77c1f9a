"""The property every fault test ends with: each message has exactly one assistant reply (API and
chat database) and each reply is billed exactly once (ledger, session usage, limit windows)."""

import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from devinfra.system import System

from shared import topology
from tests.faults.probes import as_uuid, chat_messages, ledger_rows, queue_depths
from tests.faults.workload import User, get_json, wait_replied

NANO = Decimal(10) ** 9


@dataclass
class Broker:
    """Where a System's messages live, and the rabbitmqctl that can count them."""

    url: str
    vhost: str
    ctl: tuple[str, ...] = ("rabbitmqctl",)


def settle(broker: Broker, timeout: float = 90) -> None:
    """Wait until no work queue holds a message, ready or in flight: every delivery was handled
    (so a late duplicate cannot change the state after the checks)."""
    names = {q.name for q in topology.WORK_QUEUES}
    deadline = time.monotonic() + timeout
    while True:
        busy = {n: d for n, d in queue_depths(broker.vhost, broker.ctl).items() if n in names and any(d)}
        if not busy:
            return
        assert time.monotonic() < deadline, f"queues still busy: {busy}"
        time.sleep(0.3)


def _wait_billed(system: System, user: User, exchanges: set[UUID], timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while True:
        rows = ledger_rows(system, user.id)
        if exchanges <= {as_uuid(r["exchange_id"]) for r in rows} or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def assert_exactly_once(system: System, broker: Broker, user: User, sent: list[str], *, windows: bool = True) -> None:
    """`sent`: user message ids that were answered 201. Every stored user message of the session is
    checked, not only those: a send that failed after storing must not get two replies either."""
    wait_replied(user, sent)
    settle(broker)
    listed = wait_replied(user, sent)

    # The API: each user message completed and followed by exactly one assistant message.
    kinds = [m["message_type"] for m in listed]
    assert kinds == ["user", "assistant"] * (len(kinds) // 2), kinds
    by_id = {m["message_id"]: m for m in listed}
    assert all(by_id[mid]["reply_status"] == "completed" for mid in sent), [by_id[mid] for mid in sent]
    api_replies = {UUID(m["message_id"]) for m in listed if m["message_type"] == "assistant"}

    # The chat database: one assistant row per exchange, none for an exchange twice.
    rows = chat_messages(system, user.session_id)
    exchange_of = {str(as_uuid(r["message_id"])): as_uuid(r["exchange_id"])
                   for r in rows if r["message_type"] == "user" and r["exchange_id"]}
    replies = Counter(as_uuid(r["reply_to_exchange_id"]) for r in rows if r["message_type"] == "assistant")
    assert all(count == 1 for count in replies.values()), replies
    assert all(replies[exchange_of[mid]] == 1 for mid in sent), (sent, replies)
    completed = {exchange_of[str(as_uuid(r["message_id"]))] for r in rows
                 if r["message_type"] == "user" and r["reply_status"] == "completed"}
    assert set(replies) == completed == api_replies

    # Billing: one ledger row per reply, and the read models agree with the ledger.
    ledger = _wait_billed(system, user, set(replies))
    billed = Counter(as_uuid(r["exchange_id"]) for r in ledger)
    assert all(count == 1 for count in billed.values()), billed
    assert set(billed) == set(replies), (billed, replies)
    paid = sum(r["effective_tokens"] for r in ledger if not r["is_free_model"])
    free = sum(r["effective_tokens"] for r in ledger if r["is_free_model"])
    usages = [u for u in get_json(user, "/api/chat-session-usages/") if u["session_id"] == user.session_id]
    if ledger:
        [usage] = usages
        assert (usage["tokens_count"], usage["free_model_tokens_count"]) == (paid, free), (usage, ledger)
        assert Decimal(usage["cost_usd"]) == sum(r["cost_nano"] for r in ledger) / NANO, usage
    else:
        assert all(u["tokens_count"] == u["free_model_tokens_count"] == 0 for u in usages), usages
    if windows:
        # Windows count committed usage plus open reservations, so they are exact only when no
        # failed send left a reservation behind (the broker-restart test skips this).
        limits = {lim["name"]: lim for lim in get_json(user, "/api/users/usage/")["limits"]}
        assert limits["hourly_messages"]["used"] == len(ledger), limits["hourly_messages"]
        assert limits["hourly_tokens"]["used"] == paid + free, (limits["hourly_tokens"], ledger)
