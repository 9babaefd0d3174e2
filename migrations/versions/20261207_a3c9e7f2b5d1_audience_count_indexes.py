"""The audience count at 100,000 contacts: a postcode-area column on contact, computed by the
database from the postcode (STORED on PostgreSQL, which fills it for every row as it adds it;
VIRTUAL on SQLite, which cannot add a stored column to a table), indexed with erased_at and id;
and a membership index on (contact_id, status) in place of the one on contact_id alone.

Revision ID: a3c9e7f2b5d1
Revises: e3a7c9d1f5b2
Create Date: 2026-12-07 07:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

from crm.contacts.models import POSTCODE_AREA_SQL


# revision identifiers, used by Alembic.
revision = 'a3c9e7f2b5d1'
down_revision = 'e3a7c9d1f5b2'
branch_labels = None
depends_on = None


def upgrade():
    stored = op.get_bind().dialect.name != "sqlite"
    op.add_column('contact', sa.Column('postcode_area', sa.String(length=2),
                                       sa.Computed(POSTCODE_AREA_SQL, persisted=stored), nullable=False))
    op.create_index('ix_contact_postcode_area', 'contact', ['postcode_area', 'erased_at', 'id'], unique=False)
    op.create_index('ix_membership_contact_status', 'membership', ['contact_id', 'status'], unique=False)
    op.drop_index('ix_membership_contact_id', table_name='membership')


def downgrade():
    op.create_index('ix_membership_contact_id', 'membership', ['contact_id'], unique=False)
    op.drop_index('ix_membership_contact_status', table_name='membership')
    op.drop_index('ix_contact_postcode_area', table_name='contact')
    op.drop_column('contact', 'postcode_area')
