"""What the chat migration tests share: the tables as revision 0002 left them (only the columns their
rows need), and a database upgraded to head over rows written at an older revision."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import chat
import sqlalchemy as sa
from alembic import command

from shared.db import make_engine
from shared.migrations import alembic_config

MIGRATIONS = Path(chat.__file__).parent / "migrations"
NOW = datetime(2026, 12, 1, tzinfo=UTC)

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


async def upgrade_over(database_url: str, revision: str, messages: sa.Table, rows: Sequence[dict],
                       sessions: Sequence[int] = (1,)) -> None:
    """Upgrade an empty database to `revision`, write one model, one chatbot, the `sessions` (user 7)
    and the message `rows` (in the `messages` table as `revision` has it), then upgrade to head."""
    config = alembic_config(database_url, MIGRATIONS)
    await asyncio.to_thread(command.upgrade, config, revision)
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(ai_model.insert(), dict(
            id=1, name="m", model_id="x/m", description="", model_type="text", is_active=True, is_free=True,
            token_cost_multiplier=1, context_tokens=1000, max_reply_tokens=100, fallback_model_ids=""))
        await conn.execute(chatbot.insert(), dict(id=1, name="b", description="", is_active=True, system_prompt="",
                                                  chatbot_type="text"))
        for session_id in sessions:
            await conn.execute(chat_session.insert(), dict(
                id=session_id, user_id=7, chatbot_id=1, ai_model_id=1, title="t", auto_generate_title=False,
                is_active=True, created_at=NOW, updated_at=NOW))
        await conn.execute(messages.insert(), rows)
    await engine.dispose()
    await asyncio.to_thread(command.upgrade, config, "head")


async def read(database_url: str, query: sa.Select) -> list[sa.Row]:
    """The rows of `query`, read in a connection of its own."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(query))
    finally:
        await engine.dispose()
