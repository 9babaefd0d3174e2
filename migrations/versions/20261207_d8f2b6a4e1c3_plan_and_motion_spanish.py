"""Plans and AGM motions in Spanish: optional name_es/description_es on a plan and
title_es/text_markdown_es/text_html_es on a motion, shown to Spanish readers when written

Revision ID: d8f2b6a4e1c3
Revises: c5e8a1f3d7b9
Create Date: 2026-12-07 02:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd8f2b6a4e1c3'
down_revision = 'c5e8a1f3d7b9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('membership_plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_es', sa.String(length=120), server_default='', nullable=False))
        batch_op.add_column(sa.Column('description_es', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('agm_motion', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_es', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('text_markdown_es', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('text_html_es', sa.Text(), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('agm_motion', schema=None) as batch_op:
        batch_op.drop_column('text_html_es')
        batch_op.drop_column('text_markdown_es')
        batch_op.drop_column('title_es')
    with op.batch_alter_table('membership_plan', schema=None) as batch_op:
        batch_op.drop_column('description_es')
        batch_op.drop_column('name_es')
