"""Migration 0005 on a database with conversations in it, on SQLite and PostgreSQL: every enabled
message gets the running prompt-token count of its session up to it; disabled ones add nothing."""

import uuid

import sqlalchemy as sa

from tests.chat.migration_support import NOW, meta, read, upgrade_over

# The message table as revision 0003 left it: 0002's columns plus reply_to and finish_reason.
message = sa.Table("message", sa.MetaData(), *(sa.Column(col.name, col.type, primary_key=col.primary_key) for col in meta.tables["message"].columns),
                   sa.Column("reply_to", sa.Uuid), sa.Column("finish_reason", sa.String))


def _message(id_, session_id, tokens, disabled=False) -> dict:
    return dict(id=id_, message_id=uuid.uuid4(), session_id=session_id, user_id=7,  # noqa: C408
                message_type="user" if id_ % 2 else "assistant", content="text", tokens_count=tokens, image_url="",
                created_at=NOW, disabled=disabled, exchange_id=None, reply_status=None, reply_to_exchange_id=None,
                reply_to=None, finish_reason=None)


async def _backfilled(database_url: str) -> None:
    # Two sessions, interleaved ids; session 1 had its third message edited away (4 and 5 disabled).
    rows = [_message(1, 1, 10), _message(2, 2, 7), _message(3, 1, 20), _message(4, 1, 5, disabled=True),
            _message(5, 1, 6, disabled=True), _message(6, 2, 1), _message(7, 1, 3)]
    await upgrade_over(database_url, "0003_message_reply_to_and_order", message, rows, sessions=(1, 2))

    table = sa.Table("message", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("disabled", sa.Boolean),
                     sa.Column("running_tokens", sa.Integer))
    query = sa.select(table).where(table.c.disabled.is_(False))
    got = {r.id: r.running_tokens for r in await read(database_url, query)}
    # 4 tokens of framing per message (MESSAGE_OVERHEAD) plus its own count, summed per session in order.
    assert got == {1: 14, 3: 14 + 24, 7: 38 + 7, 2: 11, 6: 11 + 5}


async def test_running_counts_are_backfilled_on_sqlite(tmp_path):
    await _backfilled(f"sqlite+aiosqlite:///{tmp_path}/chat.db")


async def test_running_counts_are_backfilled_on_postgresql(postgres_url):
    await _backfilled(postgres_url)
