"""messages: a running prompt-token count per message, and indexes for reading a prompt's history

Revision ID: 0005_message_running_tokens
Revises: 0004_session_list_index
Create Date: 2026-12-07 17:40:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005_message_running_tokens'
down_revision: Union[str, Sequence[str], None] = '0004_session_list_index'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# shared.tokens.MESSAGE_OVERHEAD when this revision was written; frozen here so the backfill means
# the same whatever the constant becomes (the prompt builder never trusts the column blindly).
MESSAGE_OVERHEAD = 4


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('running_tokens', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index('ix_message_session_running', ['session_id', 'disabled', 'running_tokens'], unique=False)
        batch_op.create_index('ix_message_session_images', ['session_id', 'disabled', 'id'], unique=False,
                              postgresql_where=sa.text("image_url <> ''"), sqlite_where=sa.text("image_url <> ''"))
    # Messages stored before: the running count over each session's enabled messages in order, in
    # one statement (window sums; UPDATE … FROM works on PostgreSQL and SQLite ≥ 3.33). Disabled
    # messages add nothing and are never read for a prompt.
    op.execute(
        "UPDATE message SET running_tokens = totals.running FROM ("
        f"SELECT id, SUM(CASE WHEN disabled THEN 0 ELSE {MESSAGE_OVERHEAD} + tokens_count END) "
        "OVER (PARTITION BY session_id ORDER BY id) AS running FROM message"
        ") AS totals WHERE message.id = totals.id"
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.alter_column('running_tokens', server_default=None)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_session_images')
        batch_op.drop_index('ix_message_session_running')
        batch_op.drop_column('running_tokens')
