"""reporting: the ledger's created_at index (carrying what reports sum), payment completion and
settlement indexes, and why/when a reservation was released (failed replies)

Revision ID: 0004_reporting_indexes
Revises: 0003_stripe_events
Create Date: 2026-12-07 17:40:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.types

# revision identifiers, used by Alembic.
revision: str = '0004_reporting_indexes'
down_revision: str | Sequence[str] | None = '0003_stripe_events'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('reservation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('release_reason', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('released_at', billing.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_reservation_released', ['released_at'], unique=False)
    op.create_index('ix_usage_ledger_created', 'usage_ledger', ['created_at'], unique=False,
                    postgresql_include=['kind', 'user_id', 'model', 'is_free_model', 'stopped', 'prompt_tokens',
                                       'completion_tokens', 'tokens', 'cost_nano'])
    op.create_index('ix_payment_completed', 'payment', ['completed_at'], unique=False)
    op.create_index('ix_payment_settled', 'payment', ['settled_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_payment_settled', table_name='payment')
    op.drop_index('ix_payment_completed', table_name='payment')
    op.drop_index('ix_usage_ledger_created', table_name='usage_ledger')
    with op.batch_alter_table('reservation', schema=None) as batch_op:
        batch_op.drop_index('ix_reservation_released')
        batch_op.drop_column('released_at')
        batch_op.drop_column('release_reason')
