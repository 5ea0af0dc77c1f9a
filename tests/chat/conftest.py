"""Chat service fixtures: a fresh SQLite database with the seed catalog and a frozen clock."""

import pytest
from chat.models import ChatTable
from chat.seed import seed_catalog
from chat.service import ChatService
from chat.settings import ChatSettings

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
