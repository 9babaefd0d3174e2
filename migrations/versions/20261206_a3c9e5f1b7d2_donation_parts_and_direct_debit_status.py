"""money the UK way: donation payments kept apart (payment.part_of_id), the Direct Debit status

A membership whose first Bacs Direct Debit is being collected (direct_debit_pending) is the
contact's current membership: the one-current-membership index now counts it.

A join with an extra donation is one Stripe charge recorded as two payments: the membership
payment and a donation pointing at it (part_of_id, unique). Rows recorded before this revision
have no record of how much of the amount was a donation, so they stay one membership payment;
any row without a kind is a membership payment.

Revision ID: a3c9e5f1b7d2
Revises: 3a9c5e71b2d4
Create Date: 2026-12-06 20:20:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a3c9e5f1b7d2'
down_revision = '3a9c5e71b2d4'
branch_labels = None
depends_on = None

OLD_CURRENT = "status IN ('pending', 'active', 'grace', 'suspended')"
NEW_CURRENT = "status IN ('pending', 'direct_debit_pending', 'active', 'grace', 'suspended')"


def upgrade():
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('part_of_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_payment_part_of_id'), ['part_of_id'])
        batch_op.create_foreign_key(
            batch_op.f('fk_payment_part_of_id_payment'), 'payment', ['part_of_id'], ['id']
        )
    op.execute("UPDATE payment SET kind = 'membership' WHERE kind IS NULL OR kind = ''")
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_index('uq_membership_one_current_per_contact', sqlite_where=sa.text(OLD_CURRENT), postgresql_where=sa.text(OLD_CURRENT))
        batch_op.create_index('uq_membership_one_current_per_contact', ['contact_id'], unique=True, sqlite_where=sa.text(NEW_CURRENT), postgresql_where=sa.text(NEW_CURRENT))


def downgrade():
    op.execute("UPDATE membership SET status = 'pending' WHERE status = 'direct_debit_pending'")
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_index('uq_membership_one_current_per_contact', sqlite_where=sa.text(NEW_CURRENT), postgresql_where=sa.text(NEW_CURRENT))
        batch_op.create_index('uq_membership_one_current_per_contact', ['contact_id'], unique=True, sqlite_where=sa.text(OLD_CURRENT), postgresql_where=sa.text(OLD_CURRENT))
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payment_part_of_id_payment'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_payment_part_of_id'), type_='unique')
        batch_op.drop_column('part_of_id')
