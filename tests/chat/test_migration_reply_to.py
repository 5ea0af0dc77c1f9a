"""Migration 0003 on a database with replies in it, on SQLite and PostgreSQL: replies stored before
it answer the user message of their exchange, and ended normally."""

import uuid

import sqlalchemy as sa

from tests.chat.migration_support import NOW, message, read, upgrade_over


def _message(id_, kind, **fields) -> dict:
    return dict(id=id_, message_id=uuid.uuid4(), session_id=1, user_id=7, message_type=kind, content="text",
                tokens_count=1, image_url="", created_at=NOW, disabled=False, exchange_id=None, reply_status=None,
                reply_to_exchange_id=None) | fields


async def _backfilled(database_url: str) -> None:
    exchange, old_exchange = uuid.uuid4(), uuid.uuid4()
    asked = _message(1, "user", exchange_id=exchange, reply_status="completed")
    replaced = _message(2, "assistant", reply_to_exchange_id=old_exchange, disabled=True)  # before a regenerate
    reply = _message(3, "assistant", reply_to_exchange_id=exchange)
    await upgrade_over(database_url, "0002", message, [asked, replaced, reply])

    rows = sa.Table("message", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("reply_to", sa.Uuid),
                    sa.Column("finish_reason", sa.String))
    got = {r.id: (r.reply_to, r.finish_reason) for r in await read(database_url, sa.select(rows).order_by(rows.c.id))}
    assert got == {1: (None, None), 2: (None, "stop"), 3: (asked["message_id"], "stop")}


async def test_replies_stored_before_are_backfilled_on_sqlite(tmp_path):
    await _backfilled(f"sqlite+aiosqlite:///{tmp_path}/chat.db")


async def test_replies_stored_before_are_backfilled_on_postgresql(postgres_url):
    await _backfilled(postgres_url)
