"""`python -m shared.migrate [service …]`: bring each service's database to its newest schema, once per
deploy (the compose one-shot service `migrate`, the Kubernetes Job `migrate`), before the new replicas
start; in production they no longer migrate at start-up (`MIGRATE_ON_START`), so replicas never race
each other through the same migration.

Each service's database address is read by that service's own settings class (`GATEWAY_DATABASE_URL`,
`CHAT_DATABASE_URL`, `BILLING_DATABASE_URL`), found by name so that shared code imports no service.
"""

import argparse
import asyncio
import importlib
import logging
from pathlib import Path

from shared.migrations import upgrade_to_head

log = logging.getLogger(__name__)

# The services that own a database: package -> settings class.
SETTINGS = {"gateway": "GatewaySettings", "chat": "ChatSettings", "billing": "BillingSettings"}


def database_url(service: str) -> str:
    settings_class = getattr(importlib.import_module(f"{service}.settings"), SETTINGS[service])
    return settings_class().database_url


def migrations_dir(service: str) -> Path:
    package = importlib.import_module(service)
    return Path(package.__file__).parent / "migrations"


async def migrate(services: list[str]) -> None:
    for service in services:
        log.info("migrating %s", service)
        await upgrade_to_head(database_url(service), migrations_dir(service))
        log.info("%s is at the newest schema", service)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.migrate",
                                     description="Bring each service's database to its newest schema.")
    parser.add_argument("services", nargs="*", metavar="service",
                        help=f"of {', '.join(SETTINGS)} (default: all of them)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.services) - set(SETTINGS))
    if unknown:
        parser.error(f"no database for {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(migrate(args.services or list(SETTINGS)))


if __name__ == "__main__":
    main()
