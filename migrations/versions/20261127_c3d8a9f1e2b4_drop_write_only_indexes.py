"""indexes that only cost writes: membership status and paid-through alone, contact postcode

ix_membership_status is the leading column of ix_membership_status_paid_through, and every query
on paid_through also names a status; postcodes are found through the search index. Each of these
indexes cost a page write per imported row, more as the tables grew.

Revision ID: c3d8a9f1e2b4
Revises: b7c1e0a4f2d9
Create Date: 2026-11-27 17:20:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c3d8a9f1e2b4'
down_revision = 'b7c1e0a4f2d9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_index('ix_membership_status')
        batch_op.drop_index('ix_membership_paid_through')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_postcode')


def downgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index('ix_contact_postcode', ['postcode'], unique=False)
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.create_index('ix_membership_paid_through', ['paid_through'], unique=False)
        batch_op.create_index('ix_membership_status', ['status'], unique=False)
