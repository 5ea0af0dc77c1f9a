"""Alembic environment of the billing service."""

from alembic import context

from billing.models import BillingTable
from shared.migrations import run_env

run_env(context, BillingTable.metadata)
