"""Alembic migrations per service: each service keeps `<package>/migrations/` and upgrades its own
database to head at start-up (SQLite by default, PostgreSQL in production)."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import SessionFactory, make_engine, make_session_factory


def alembic_config(database_url: str, migrations_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade_to_head(database_url: str, migrations_dir: Path) -> None:
    """Bring the database to the newest schema (creates it from zero on a fresh database)."""
    await asyncio.to_thread(command.upgrade, alembic_config(database_url, migrations_dir), "head")


async def open_database(database_url: str, migrations_dir: Path, *, migrate: bool) -> tuple[AsyncEngine, SessionFactory]:
    """A service's engine and session factory at start-up, its schema brought to head first when
    `migrate` (`ServiceSettings.migrates_on_start()`; else `python -m shared.migrate` ran before the
    deploy)."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    if migrate:
        await upgrade_to_head(database_url, migrations_dir)
    return engine, factory


def run_env(context, metadata: MetaData) -> None:  # noqa: ANN001 - alembic's context module
    """Body of every service's migrations/env.py: online migrations over an async engine."""
    url = context.config.get_main_option("sqlalchemy.url")

    def do_run(connection) -> None:  # noqa: ANN001
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run())
