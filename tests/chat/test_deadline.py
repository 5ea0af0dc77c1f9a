"""The commit point decides the answer (architecture §4): under an RPC deadline, chat does not
commit past it, so the caller's error answer (it gave up) means nothing was stored; the claim and
the reservation are given back even after the deadline."""

import asyncio
import sqlite3
import time
from decimal import Decimal
from uuid import uuid4

import pytest
import sqlalchemy.exc
from chat.admission import BillingAdmission

from shared import deadlines
from shared.contracts import billing as b
from shared.contracts import chat as c
from shared.errors import Timeout, Unavailable
from tests.chat.test_exchanges import _abandoned
from tests.chat.test_service import USER, _request, _send, _session


async def test_a_store_that_waits_on_a_lock_past_its_deadline_stores_nothing(chat_env, billing, tmp_path):
    service, factory, _ = chat_env
    session = await _session(service)
    blocker = sqlite3.connect(tmp_path / "chat.db", isolation_level=None)
    releasing = []

    async def lock_the_database() -> None:
        # Another writer holds the database past the request's deadline (a long migration, a stuck
        # job) from while billing admits until after the deadline.
        blocker.execute("BEGIN IMMEDIATE")

        async def release_later() -> None:
            await asyncio.sleep(1.5)
            blocker.execute("COMMIT")

        releasing.append(asyncio.create_task(release_later()))

    billing.during = lock_the_database
    request = _request(session.id, "late")
    token = deadlines.deadline_var.set(time.time() + 1.0)  # as the responder sets it from x-deadline
    try:
        with pytest.raises((Unavailable, sqlalchemy.exc.OperationalError)):  # the responder answers 503
            await service.run_exchange(request)
    finally:
        deadlines.deadline_var.reset(token)
        await asyncio.gather(*releasing)
        blocker.close()
    assert await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id)) == []
    # given up after the deadline all the same: the claim is free and the reservation released
    assert await _abandoned(factory) == [str(request.exchange_id)]
    await _send(service, session.id, "next")


async def test_an_exchange_inside_its_deadline_is_stored(chat_env):
    service, _, _ = chat_env
    session = await _session(service)
    token = deadlines.deadline_var.set(time.time() + 10)
    try:
        await _send(service, session.id, "in time")
    finally:
        deadlines.deadline_var.reset(token)
    listed = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [m.content for m in listed] == ["in time"]


async def test_no_transaction_starts_once_the_deadline_has_passed(chat_env, billing):
    service, _, _ = chat_env
    session = await _session(service)
    token = deadlines.deadline_var.set(time.time() - 1)
    try:
        with pytest.raises(Unavailable):
            await _send(service, session.id, "too late")
    finally:
        deadlines.deadline_var.reset(token)
    assert billing.requests == []
    assert await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id)) == []


class _RecordingRpc:
    def __init__(self) -> None:
        self.timeouts: list[float] = []

    async def call(self, query, payload, result_type=None, *, timeout=None):
        self.timeouts.append(timeout)
        return b.Admission(exchange_id=payload.exchange_id, max_tokens=10)


def _admit_request() -> b.AdmitExchange:
    return b.AdmitExchange(user_id=USER, exchange_id=uuid4(), session_id=1, model="m", is_free_model=True,
                           token_cost_multiplier=Decimal(1), prompt_tokens=10, max_reply_tokens=100)


async def test_billing_is_asked_within_what_is_left_of_the_deadline():
    """The admission leaves the store step its share of the caller's deadline, and is not asked at
    all when that share is all that is left."""
    rpc = _RecordingRpc()
    admission = BillingAdmission(rpc, timeout_seconds=10)
    await admission.admit(_admit_request())  # no deadline: the RPC timeout
    token = deadlines.deadline_var.set(time.time() + 4)
    try:
        await admission.admit(_admit_request())
    finally:
        deadlines.deadline_var.reset(token)
    token = deadlines.deadline_var.set(time.time() + 0.9)
    try:
        with pytest.raises(Timeout):
            await admission.admit(_admit_request())
    finally:
        deadlines.deadline_var.reset(token)
    assert rpc.timeouts[0] == 10 and 2.5 < rpc.timeouts[1] <= 3 and len(rpc.timeouts) == 2
