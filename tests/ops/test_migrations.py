"""Every service's Alembic migrations build, from zero, exactly the schema its models describe —
on PostgreSQL (production) and on SQLite (the embedded default)."""

import billing.main
import chat.main
import gateway.app
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from billing.models import BillingTable
from chat.models import ChatTable
from gateway.models import GatewayTable

from shared.db import make_engine
from shared.migrations import upgrade_to_head

SERVICES = {
    "gateway": (gateway.app.MIGRATIONS, GatewayTable.metadata),
    "chat": (chat.main.MIGRATIONS, ChatTable.metadata),
    "billing": (billing.main.MIGRATIONS, BillingTable.metadata),
}


async def _schema_diff(url: str, service: str) -> list:
    migrations, metadata = SERVICES[service]
    await upgrade_to_head(url, migrations)
    await upgrade_to_head(url, migrations)  # a second upgrade is a no-op (restarts, replicas)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_postgresql_from_zero_to_head_matches_the_models(service, postgres_url):
    assert await _schema_diff(postgres_url, service) == []


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_sqlite_from_zero_to_head_matches_the_models(service, tmp_path):
    assert await _schema_diff(f"sqlite+aiosqlite:///{tmp_path}/{service}.db", service) == []
