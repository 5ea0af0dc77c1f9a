"""Chat service fixtures: a fresh database (SQLite; chat_db: SQLite and PostgreSQL) with the seed
catalog, a frozen clock and a stand-in for billing's admission."""

from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from chat.models import ChatTable
from chat.seed import seed_catalog
from chat.service import ChatService
from chat.settings import ChatSettings

from shared.clock import FrozenClock
from shared.contracts import billing as b
from shared.db import create_schema, make_engine, make_session_factory, transaction
from tests.support.postgres import fresh_database


class StandInBilling:
    """Admits every exchange with a reply cap of 100 and records each request; `during` runs while an
    admission is in flight (what another request does meanwhile), `denial` is raised instead."""

    def __init__(self) -> None:
        self.requests: list[b.AdmitExchange] = []
        self.during: Callable[[], Awaitable[None]] | None = None
        self.denial: Exception | None = None

    async def admit(self, request: b.AdmitExchange) -> b.Admission:
        self.requests.append(request)
        if self.during is not None:
            during, self.during = self.during, None  # once: a nested exchange is admitted plainly
            await during()
        if self.denial is not None:
            raise self.denial
        rate = b.RateLimitInfo(limit=10, remaining=9, reset_seconds=3600)
        return b.Admission(exchange_id=request.exchange_id, max_tokens=100, rate_limit=rate)


@pytest.fixture
def billing():
    return StandInBilling()


@asynccontextmanager
async def _seeded_chat(url: str, billing: StandInBilling):
    """(service, session factory, frozen clock) of a chat whose database at `url` has the seed catalog."""
    engine = make_engine(url)
    await create_schema(engine, ChatTable.metadata)
    factory = make_session_factory(engine)
    async with transaction(factory) as s:
        await seed_catalog(s)
    clock = FrozenClock()
    try:
        yield ChatService(factory, ChatSettings(CHAT_DATABASE_URL=url), clock, billing=billing), factory, clock
    finally:
        await engine.dispose()


@pytest.fixture
async def chat_env(tmp_path, billing):
    async with _seeded_chat(f"sqlite+aiosqlite:///{tmp_path}/chat.db", billing) as env:
        yield env


@asynccontextmanager
async def _database(kind: str, request, tmp_path):
    """A fresh chat database URL: SQLite in tmp_path, or a PostgreSQL database of its own."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/chat.db"
        return
    async with fresh_database(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
async def chat_db(request, tmp_path, billing):
    """As chat_env, on SQLite and on PostgreSQL."""
    async with _database(request.param, request, tmp_path) as url, _seeded_chat(url, billing) as env:
        yield env
