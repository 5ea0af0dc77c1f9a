"""`python -m devinfra.migrations new <service> "<message>"`: autogenerate a migration by comparing
the service's models with a scratch database upgraded to the current head."""

import asyncio
import importlib
import sys
import tempfile
from pathlib import Path

from alembic import command

from shared.migrations import alembic_config, upgrade_to_head

PACKAGES = {"gateway": "gateway", "chat": "chat", "billing": "billing"}


def migrations_dir(service: str) -> Path:
    package = importlib.import_module(PACKAGES[service])
    return Path(package.__file__).parent / "migrations"


def new_revision(service: str, message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/scratch.db"
        asyncio.run(upgrade_to_head(url, migrations_dir(service)))
        command.revision(alembic_config(url, migrations_dir(service)), message=message, autogenerate=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "new" or sys.argv[2] not in PACKAGES:
        print(__doc__)
        sys.exit(2)
    new_revision(sys.argv[2], sys.argv[3])
