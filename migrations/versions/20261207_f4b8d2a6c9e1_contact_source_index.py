"""An index on contact.source: the staff filters ask whether any demo or seed contact exists
before offering those sources, and filter by source, at 100,000 contacts

Revision ID: f4b8d2a6c9e1
Revises: b7d2e4f6a8c1
Create Date: 2026-12-07 14:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f4b8d2a6c9e1'
down_revision = 'b7d2e4f6a8c1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_contact_source', 'contact', ['source'], unique=False)


def downgrade():
    op.drop_index('ix_contact_source', table_name='contact')
