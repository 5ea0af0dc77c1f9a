"""The session list's per-row copies (gateway.session_rows) against a real Redis, with chat stood in by
an in-memory table: after any change to one session among many, the next read equals a fresh read of
the table, and re-reads only the changed row (no rebuild of the whole list)."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from gateway.session_lists import REBUILD_PAGE, SessionLists
from gateway.session_rows import SessionRows

from shared.contracts import chat as c
from shared.errors import NotFound

USER = 7


class FakeChat:
    """Chat's two session queries over a dict of rows, counting the calls."""

    def __init__(self, count: int) -> None:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        self.rows = {i: self._row(i, start + timedelta(seconds=i // 3), f"Chat {i}") for i in range(1, count + 1)}
        self.calls: list[str] = []

    @staticmethod
    def _row(session_id: int, moment: datetime, title: str) -> dict:
        return {"id": session_id, "chatbot": {"id": 1, "name": "Bot «ب»"}, "title": title,
                "updated_at": moment.isoformat().replace("+00:00", "Z"), "is_active": True}

    def ordered(self) -> list[dict]:
        return sorted(self.rows.values(), key=lambda r: (r["updated_at"], r["id"]), reverse=True)

    def touch(self, session_id: int, seconds: int, title: str | None = None) -> None:
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        self.rows[session_id] = self._row(session_id, moment, title or self.rows[session_id]["title"])

    async def call(self, query: str, payload):
        self.calls.append(query)
        if query == c.RpcNames.GET_SESSION:
            if payload.session_id not in self.rows:
                raise NotFound()
            return self.rows[payload.session_id]
        assert query == c.RpcNames.LIST_SESSIONS
        rows = self.ordered()
        if payload.before_id is not None:
            key = (payload.before_updated_at.isoformat().replace("+00:00", "Z"), payload.before_id)
            rows = [r for r in rows if (r["updated_at"], r["id"]) < key]
        return {"count": len(rows), "items": rows[: payload.limit]}


@pytest.fixture
def rows(redis, redis_prefix):
    return SessionRows(redis, redis_prefix, ttl_seconds=60)


def fresh(chat: FakeChat) -> list[dict]:
    import json

    return json.loads(json.dumps(chat.ordered()))


async def listed(lists: SessionLists) -> list[dict]:
    import json

    return json.loads(await lists.body(USER))


async def test_a_change_to_one_session_among_many_rereads_that_row_only(rows):
    chat = FakeChat(2 * REBUILD_PAGE + 17)
    lists = SessionLists(rows, chat)
    assert await listed(lists) == fresh(chat)
    assert chat.calls.count(c.RpcNames.LIST_SESSIONS) == 3  # rebuilt in keyset pages
    chat.calls.clear()
    assert await listed(lists) == fresh(chat)
    assert chat.calls == []  # a hit asks chat nothing

    rng = random.Random(20)
    for step in range(40):
        session_id = rng.choice(list(chat.rows))
        kind = rng.choice(["send", "rename", "delete", "create"])

        async def change(kind=kind, session_id=session_id, step=step):
            if kind == "send":
                chat.touch(session_id, 10_000 + step)
            elif kind == "rename":
                chat.touch(session_id, 10_000 + step, f"Renamed {step} «ف»")
            elif kind == "delete":
                del chat.rows[session_id]
            else:
                new_id = max(chat.rows) + 1
                chat.touch(new_id, 10_000 + step, "Created")
                return {"id": new_id}
            return None

        chat.calls.clear()
        await lists.changing(USER, change(), None if kind == "create" else session_id)
        assert await listed(lists) == fresh(chat), (step, kind)
        assert chat.calls == [c.RpcNames.GET_SESSION], (step, kind)  # that row, not the list


async def test_a_patch_read_before_a_later_change_is_refused(rows):
    chat = FakeChat(30)
    lists = SessionLists(rows, chat)
    await listed(lists)
    await lists.changed(USER, 5)
    seen = await rows.read(USER)
    assert seen.dirty == [5]
    chat.touch(5, 9_000, "first")
    stale = {5: (await _render(chat, 5))}
    chat.touch(5, 9_001, "second")
    await lists.changed(USER, 5)  # the second change lands while the slow reader patches
    assert not await rows.patch(USER, seen, stale)
    assert await listed(lists) == fresh(chat)
    assert next(r for r in await listed(lists) if r["id"] == 5)["title"] == "second"


async def test_a_catalog_change_rebuilds_and_a_vanished_key_reads_as_a_miss(rows, redis):
    chat = FakeChat(50)
    lists = SessionLists(rows, chat)
    await listed(lists)
    for row in chat.rows.values():
        row["chatbot"]["name"] = "Edited"
    await lists.catalog_changing(_nothing())
    assert await listed(lists) == fresh(chat)
    await redis.delete(f"{rows.prefix}{USER}:order")  # as if evicted
    chat.calls.clear()
    assert await listed(lists) == fresh(chat)
    assert c.RpcNames.LIST_SESSIONS in chat.calls


async def test_an_unnamed_change_rebuilds_the_whole_copy(rows):
    chat = FakeChat(12)
    lists = SessionLists(rows, chat)
    await listed(lists)
    chat.touch(3, 50_000, "behind a timeout")
    await lists.changed(USER, None)
    chat.calls.clear()
    assert await listed(lists) == fresh(chat)
    assert chat.calls == [c.RpcNames.LIST_SESSIONS]


async def _render(chat: FakeChat, session_id: int):
    from gateway.session_lists import render

    row = dict(chat.rows[session_id])
    return render(row), row


async def _nothing() -> None:
    return None
