"""Chat service fixtures: a fresh database (SQLite; chat_db: SQLite and PostgreSQL) with the seed
catalog and a frozen clock."""

import uuid
from contextlib import asynccontextmanager

import asyncpg
import pytest
from chat.models import ChatTable
from chat.seed import seed_catalog
from chat.service import ChatService
from chat.settings import ChatSettings
from sqlalchemy.engine import make_url

from shared.clock import FrozenClock
from shared.db import create_schema, make_engine, make_session_factory, transaction


@pytest.fixture
async def chat_env(tmp_path):
    settings = ChatSettings(CHAT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chat.db")
    engine = make_engine(settings.database_url)
    await create_schema(engine, ChatTable.metadata)
    factory = make_session_factory(engine)
    async with transaction(factory) as s:
        await seed_catalog(s)
    clock = FrozenClock()
    kicks: list[int] = []
    service = ChatService(factory, settings, clock, on_outbox=lambda: kicks.append(1))
    yield service, factory, clock
    await engine.dispose()


@asynccontextmanager
async def _database(kind: str, request, tmp_path):
    """A fresh chat database URL: SQLite in tmp_path, or a PostgreSQL database of its own."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/chat.db"
        return
    admin = make_url(request.getfixturevalue("postgres_admin_url"))
    name = f"mobix_test_{uuid.uuid4().hex[:10]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
async def chat_db(request, tmp_path):
    """As chat_env, on SQLite and on PostgreSQL."""
    async with _database(request.param, request, tmp_path) as url:
        engine = make_engine(url)
        await create_schema(engine, ChatTable.metadata)
        factory = make_session_factory(engine)
        async with transaction(factory) as s:
            await seed_catalog(s)
        clock = FrozenClock()
        settings = ChatSettings(CHAT_DATABASE_URL=url)
        yield ChatService(factory, settings, clock), factory, clock
        await engine.dispose()
