"""messages: reply_to, finish_reason, and the index of the conversation's order

Revision ID: 0003_message_reply_to_and_order
Revises: 0002
Create Date: 2026-12-07 14:30:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel column types
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003_message_reply_to_and_order'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_to', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('finish_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index('ix_message_session_order', ['session_id', 'disabled', 'id'], unique=False)
    # Replies stored before: each answers the user message whose current exchange produced it (older,
    # replaced replies are disabled and never listed), and ended normally as far as anyone knew.
    op.execute(
        "UPDATE message SET finish_reason = 'stop', reply_to = ("
        "SELECT asked.message_id FROM message AS asked "
        "WHERE asked.message_type = 'user' AND asked.exchange_id = message.reply_to_exchange_id) "
        "WHERE message_type = 'assistant'"
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_session_order')
        batch_op.drop_column('finish_reason')
        batch_op.drop_column('reply_to')
