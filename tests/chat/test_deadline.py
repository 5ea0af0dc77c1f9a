"""The commit point decides the answer (architecture §4): under an RPC deadline, chat does not
commit past it, so the caller's error answer (it gave up) means nothing was stored."""

import asyncio
import sqlite3
import time

import pytest
import sqlalchemy.exc

from shared import deadlines
from shared.contracts import chat as c
from shared.errors import Unavailable
from tests.chat.test_exchanges import _prepared
from tests.chat.test_service import USER, _session


async def test_a_commit_that_waits_on_a_lock_past_its_deadline_stores_nothing(chat_env, tmp_path):
    service, _, _ = chat_env
    session = await _session(service)
    commit = await _prepared(service, session.id, "late")
    # Another writer holds the database past the request's deadline (a long migration, a stuck job).
    blocker = sqlite3.connect(tmp_path / "chat.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def release_later() -> None:
        await asyncio.sleep(1.5)
        blocker.execute("COMMIT")

    releasing = asyncio.create_task(release_later())
    token = deadlines.deadline_var.set(time.time() + 1.0)  # as the responder sets it from x-deadline
    try:
        with pytest.raises((Unavailable, sqlalchemy.exc.OperationalError)):  # the responder answers 503
            await service.commit_exchange(commit)
    finally:
        deadlines.deadline_var.reset(token)
        await releasing
        blocker.close()
    listed = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert listed == []


async def test_a_commit_inside_its_deadline_is_stored(chat_env):
    service, _, _ = chat_env
    session = await _session(service)
    commit = await _prepared(service, session.id, "in time")
    token = deadlines.deadline_var.set(time.time() + 10)
    try:
        await service.commit_exchange(commit)
    finally:
        deadlines.deadline_var.reset(token)
    listed = await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id))
    assert [m.content for m in listed] == ["in time"]


async def test_no_transaction_starts_once_the_deadline_has_passed(chat_env):
    service, _, _ = chat_env
    session = await _session(service)
    commit = await _prepared(service, session.id, "too late")
    token = deadlines.deadline_var.set(time.time() - 1)
    try:
        with pytest.raises(Unavailable):
            await service.commit_exchange(commit)
    finally:
        deadlines.deadline_var.reset(token)
    assert await service.list_messages(c.SessionQuery(user_id=USER, session_id=session.id)) == []
