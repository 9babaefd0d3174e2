"""Joint membership: a plan can be joint (two adults at one address); the paying membership names
the second adult (partner_contact_id) and the second adult's own row follows it (joint_primary_id)

Revision ID: b7d2e9a4c1f0
Revises: b7d4e2a9c1f0
Create Date: 2026-12-06 23:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d2e9a4c1f0'
down_revision = 'b7d4e2a9c1f0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('membership_plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('joint', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_contact_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('joint_primary_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_membership_partner_contact_id'), ['partner_contact_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_membership_joint_primary_id'), ['joint_primary_id'])
        batch_op.create_foreign_key(
            batch_op.f('fk_membership_partner_contact_id_contact'), 'contact', ['partner_contact_id'], ['id']
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_membership_joint_primary_id_membership'), 'membership', ['joint_primary_id'], ['id']
        )


def downgrade():
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_membership_joint_primary_id_membership'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_membership_partner_contact_id_contact'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_membership_joint_primary_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_membership_partner_contact_id'))
        batch_op.drop_column('joint_primary_id')
        batch_op.drop_column('partner_contact_id')
    with op.batch_alter_table('membership_plan', schema=None) as batch_op:
        batch_op.drop_column('joint')
