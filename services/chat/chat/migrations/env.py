"""Alembic environment of the chat service."""

from alembic import context

from chat.models import ChatTable
from shared.migrations import run_env

run_env(context, ChatTable.metadata)
