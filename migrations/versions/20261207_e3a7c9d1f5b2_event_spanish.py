"""Events in Spanish: optional title_es/description_markdown_es/description_html_es on an event,
shown to Spanish readers when written

Revision ID: e3a7c9d1f5b2
Revises: d8f2b6a4e1c3
Create Date: 2026-12-07 07:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3a7c9d1f5b2'
down_revision = 'd8f2b6a4e1c3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_es', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('description_markdown_es', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('description_html_es', sa.Text(), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('description_html_es')
        batch_op.drop_column('description_markdown_es')
        batch_op.drop_column('title_es')
