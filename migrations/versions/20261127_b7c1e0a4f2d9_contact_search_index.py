"""contact search index (pg_trgm on PostgreSQL, FTS5 trigram on SQLite)

Revision ID: b7c1e0a4f2d9
Revises: e5401dc14e6d
Create Date: 2026-11-27 09:00:00

"""
from alembic import op

from crm.staff.search import ensure_search_indexes

# revision identifiers, used by Alembic.
revision = 'b7c1e0a4f2d9'
down_revision = 'e5401dc14e6d'
branch_labels = None
depends_on = None


def upgrade():
    ensure_search_indexes(op.get_bind())


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_contact_search_trgm")
    elif bind.dialect.name == "sqlite":
        for trigger in ("contact_search_ai", "contact_search_ad", "contact_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS contact_search")
        op.execute("DROP TABLE IF EXISTS contact_search_paused")
