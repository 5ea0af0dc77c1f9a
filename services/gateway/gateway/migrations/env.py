"""Alembic environment of the gateway."""

from alembic import context

from gateway.models import GatewayTable
from shared.migrations import run_env

run_env(context, GatewayTable.metadata)
