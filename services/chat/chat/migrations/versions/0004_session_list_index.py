"""chat_session: the index of a user's session list, in the list's order

Revision ID: 0004_session_list_index
Revises: 0003_message_reply_to_and_order
Create Date: 2026-12-07 17:50:00

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004_session_list_index'
down_revision: Union[str, Sequence[str], None] = '0003_message_reply_to_and_order'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('chat_session', schema=None) as batch_op:
        batch_op.create_index('ix_chat_session_user_list', ['user_id', 'is_active', 'updated_at', 'id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('chat_session', schema=None) as batch_op:
        batch_op.drop_index('ix_chat_session_user_list')
