"""Consents and Gift Aid declarations: the language their wording was shown in

Revision ID: b7d4e2a9c1f0
Revises: 4c8e2a7f19b3
Create Date: 2026-12-06 23:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d4e2a9c1f0'
down_revision = '4c8e2a7f19b3'
branch_labels = None
depends_on = None


def upgrade():
    # Every wording recorded before this column existed was English.
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), server_default='en', nullable=False))
    with op.batch_alter_table('gift_aid_declaration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), server_default='en', nullable=False))


def downgrade():
    with op.batch_alter_table('gift_aid_declaration', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_column('language')
