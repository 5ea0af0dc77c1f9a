"""The billing migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from billing.main import MIGRATIONS
from billing.models import BillingTable

from shared.db import make_engine
from shared.migrations import upgrade_to_head


async def test_migrations_match_the_models(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/migrated.db"
    await upgrade_to_head(url, MIGRATIONS)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), BillingTable.metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []
