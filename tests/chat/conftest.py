"""Chat service fixtures: a fresh SQLite database with the seed catalog, a frozen clock and a
stand-in for billing's admission."""

from collections.abc import Awaitable, Callable

import pytest
from chat.models import ChatTable
from chat.seed import seed_catalog
from chat.service import ChatService
from chat.settings import ChatSettings

from shared.clock import FrozenClock
from shared.contracts import billing as b
from shared.db import create_schema, make_engine, make_session_factory, transaction


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


@pytest.fixture
async def chat_env(tmp_path, billing):
    settings = ChatSettings(CHAT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chat.db")
    engine = make_engine(settings.database_url)
    await create_schema(engine, ChatTable.metadata)
    factory = make_session_factory(engine)
    async with transaction(factory) as s:
        await seed_catalog(s)
    clock = FrozenClock()
    kicks: list[int] = []
    service = ChatService(factory, settings, clock, on_outbox=lambda: kicks.append(1), billing=billing)
    yield service, factory, clock
    await engine.dispose()
