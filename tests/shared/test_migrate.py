"""`python -m shared.migrate`: every service database to its newest schema once per deploy; services
skip migrating at start-up in production unless told otherwise."""

import sqlite3

import pytest
from chat.settings import ChatSettings

from shared import migrate


def test_migrates_every_service_database_it_is_given(tmp_path, monkeypatch):
    for service in migrate.SETTINGS:
        monkeypatch.setenv(f"{service.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/{service}.db")
    migrate.main([])
    migrate.main(["chat"])  # again: a no-op at head
    for service in migrate.SETTINGS:
        with sqlite3.connect(tmp_path / f"{service}.db") as db:
            (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        assert version, service


def test_refuses_a_service_without_a_database(capsys):
    with pytest.raises(SystemExit):
        migrate.main(["llm_worker"])
    assert "no database for llm_worker" in capsys.readouterr().err


@pytest.mark.parametrize(("environment", "flag", "expected"), [
    ("production", None, False), ("development", None, True), ("test", None, True),
    ("production", "true", True), ("development", "false", False),
])
def test_services_migrate_at_start_up_except_in_production(environment, flag, expected, monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", environment)
    if flag is not None:
        monkeypatch.setenv("MIGRATE_ON_START", flag)
    assert ChatSettings().migrates_on_start() is expected
