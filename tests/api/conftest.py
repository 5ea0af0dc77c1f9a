"""The API contract suite runs against the whole system as real processes (tests/api/harness.py)."""

from pathlib import Path

import pytest

from tests.api.clients import admin, basic, premium, system, user  # noqa: F401 - fixtures, over the slot below
from tests.api.harness import SystemSlot

# The contract suite runs on SQLite; the modules that exercise what each database does differently
# (storing and paging messages, sending, sessions, the usage ledger, the admin catalog) run once more
# on PostgreSQL, the production database. One system at a time: every SQLite test runs first.
POSTGRES_MODULES = frozenset({"test_send.py", "test_sessions.py", "test_messages.py", "test_usage.py",
                              "test_admin.py", "test_console.py"})
HERE = Path(__file__).parent


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def slot(request, infra, tmp_path_factory):
    postgres = request.getfixturevalue("postgres_admin_url") if request.param == "postgresql" else None
    slot = SystemSlot(infra, tmp_path_factory, database=request.param, postgres_url=postgres)
    yield slot
    slot.discard()


@pytest.fixture(autouse=True)
def _database(slot) -> str:
    """Every test of the package depends on the slot, so a test that asks for a client by name
    (`request.getfixturevalue`) still runs on the database of its parameter."""
    return slot.database


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    """Only POSTGRES_MODULES run on PostgreSQL (the rest would repeat SQLite's run to no purpose)."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("slot") == "postgresql"
        if on_postgres and item.path.parent == HERE and item.path.name not in POSTGRES_MODULES:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
