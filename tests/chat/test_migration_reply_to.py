"""Migration 0003 on a database with replies in it, on SQLite and PostgreSQL: replies stored before
it answer the user message of their exchange, and ended normally."""

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import chat
import sqlalchemy as sa
from alembic import command

from shared.db import make_engine
from shared.migrations import alembic_config

MIGRATIONS = Path(chat.__file__).parent / "migrations"
NOW = datetime(2026, 12, 1, tzinfo=UTC)

# The tables as revision 0002 left them: only the columns these rows need.
meta = sa.MetaData()
ai_model = sa.Table("ai_model", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String),
                    sa.Column("model_id", sa.String), sa.Column("description", sa.String),
                    sa.Column("model_type", sa.String), sa.Column("is_active", sa.Boolean),
                    sa.Column("is_free", sa.Boolean), sa.Column("token_cost_multiplier", sa.Numeric(8, 2)),
                    sa.Column("context_tokens", sa.Integer), sa.Column("max_reply_tokens", sa.Integer),
                    sa.Column("fallback_model_ids", sa.String))
chatbot = sa.Table("chatbot", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String),
                   sa.Column("description", sa.String), sa.Column("is_active", sa.Boolean),
                   sa.Column("system_prompt", sa.String), sa.Column("chatbot_type", sa.String))
chat_session = sa.Table("chat_session", meta, sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("user_id", sa.Integer), sa.Column("chatbot_id", sa.Integer),
                        sa.Column("ai_model_id", sa.Integer), sa.Column("title", sa.String),
                        sa.Column("auto_generate_title", sa.Boolean), sa.Column("is_active", sa.Boolean),
                        sa.Column("created_at", sa.DateTime(timezone=True)),
                        sa.Column("updated_at", sa.DateTime(timezone=True)))
message = sa.Table("message", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("message_id", sa.Uuid),
                   sa.Column("session_id", sa.Integer), sa.Column("user_id", sa.Integer),
                   sa.Column("message_type", sa.String), sa.Column("content", sa.String),
                   sa.Column("tokens_count", sa.Integer), sa.Column("image_url", sa.String),
                   sa.Column("created_at", sa.DateTime(timezone=True)), sa.Column("disabled", sa.Boolean),
                   sa.Column("exchange_id", sa.Uuid), sa.Column("reply_status", sa.String),
                   sa.Column("reply_to_exchange_id", sa.Uuid))


def _message(id_, kind, **fields) -> dict:
    return dict(id=id_, message_id=uuid.uuid4(), session_id=1, user_id=7, message_type=kind, content="text",
                tokens_count=1, image_url="", created_at=NOW, disabled=False, exchange_id=None, reply_status=None,
                reply_to_exchange_id=None) | fields


async def _backfilled(database_url: str) -> None:
    config = alembic_config(database_url, MIGRATIONS)
    await asyncio.to_thread(command.upgrade, config, "0002")
    exchange, old_exchange = uuid.uuid4(), uuid.uuid4()
    asked = _message(1, "user", exchange_id=exchange, reply_status="completed")
    replaced = _message(2, "assistant", reply_to_exchange_id=old_exchange, disabled=True)  # before a regenerate
    reply = _message(3, "assistant", reply_to_exchange_id=exchange)
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(ai_model.insert(), dict(
            id=1, name="m", model_id="x/m", description="", model_type="text", is_active=True, is_free=True,
            token_cost_multiplier=1, context_tokens=1000, max_reply_tokens=100, fallback_model_ids=""))
        await conn.execute(chatbot.insert(), dict(id=1, name="b", description="", is_active=True, system_prompt="",
                                                  chatbot_type="text"))
        await conn.execute(chat_session.insert(), dict(id=1, user_id=7, chatbot_id=1, ai_model_id=1, title="t",
                                                       auto_generate_title=False, is_active=True, created_at=NOW,
                                                       updated_at=NOW))
        await conn.execute(message.insert(), [asked, replaced, reply])
    await engine.dispose()

    await asyncio.to_thread(command.upgrade, config, "head")

    engine = make_engine(database_url)
    rows = sa.Table("message", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("reply_to", sa.Uuid),
                    sa.Column("finish_reason", sa.String))
    async with engine.connect() as conn:
        got = {r.id: (r.reply_to, r.finish_reason) for r in await conn.execute(sa.select(rows).order_by(rows.c.id))}
    await engine.dispose()
    assert got == {1: (None, None), 2: (None, "stop"), 3: (asked["message_id"], "stop")}


async def test_replies_stored_before_are_backfilled_on_sqlite(tmp_path):
    await _backfilled(f"sqlite+aiosqlite:///{tmp_path}/chat.db")


async def test_replies_stored_before_are_backfilled_on_postgresql(postgres_url):
    await _backfilled(postgres_url)
