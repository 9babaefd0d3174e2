"""PostgreSQL staff search reads a stored folded text: the trigram index moves from the folded
expression to a generated column (contact_search_text), so a match is rechecked against stored
text instead of folding each candidate row again. SQLite is unchanged (its FTS5 table already
stores the folded text).

Revision ID: c5e8a1f3d7b9
Revises: b7d2e9a4c1f0
Create Date: 2026-12-07 01:20:00

"""
from alembic import op

from crm.staff.search import PG_FOLDED_EXPRESSION, ensure_search_indexes

# revision identifiers, used by Alembic.
revision = 'c5e8a1f3d7b9'
down_revision = 'b7d2e9a4c1f0'
branch_labels = None
depends_on = None


def upgrade():
    ensure_search_indexes(op.get_bind())


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_contact_search_text_trgm")
        op.execute("ALTER TABLE contact DROP COLUMN IF EXISTS contact_search_text")
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_contact_search_folded_trgm ON contact USING gin (({PG_FOLDED_EXPRESSION}) gin_trgm_ops)")
