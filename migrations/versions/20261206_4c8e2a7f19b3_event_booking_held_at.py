"""Event bookings: when their places began to be held for payment (held_at), so the daily run can
release unpaid holds after EVENT_HOLD_HOURS

Revision ID: 4c8e2a7f19b3
Revises: f01d5ea7c0de
Create Date: 2026-12-06 21:20:00.000000

"""
from alembic import op
import sqlalchemy as sa
import crm.core.types


# revision identifiers, used by Alembic.
revision = '4c8e2a7f19b3'
down_revision = 'f01d5ea7c0de'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event_booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_at', crm.core.types.UTCDateTime(timezone=True), nullable=True))
    # Holds made before this column existed count from when the booking was made.
    op.execute("UPDATE event_booking SET held_at = created_at WHERE status = 'pending_payment'")


def downgrade():
    with op.batch_alter_table('event_booking', schema=None) as batch_op:
        batch_op.drop_column('held_at')
