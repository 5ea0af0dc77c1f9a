"""stripe_events: the Stripe webhook events taken in, keyed on Stripe's event id

Revision ID: 0003_stripe_events
Revises: 0002_payments
Create Date: 2026-12-07 15:40:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import billing.types

# revision identifiers, used by Alembic.
revision: str = '0003_stripe_events'
down_revision: str | Sequence[str] | None = '0002_payments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('stripe_event',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('object_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('received_at', billing.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('stripe_event')
