"""session_usage: the index of a user's usage list, in the list's order

Revision ID: 0005_session_usage_list_index
Revises: 0004_reporting_indexes
Create Date: 2026-12-07 17:50:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005_session_usage_list_index'
down_revision: str | Sequence[str] | None = '0004_reporting_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('session_usage', schema=None) as batch_op:
        batch_op.create_index('ix_session_usage_user_list', ['user_id', 'updated_at', 'id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('session_usage', schema=None) as batch_op:
        batch_op.drop_index('ix_session_usage_user_list')
