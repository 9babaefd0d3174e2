"""Staff search folds accents: "lopez" finds "López", "munoz" finds "Muñoz"

The searched text (names, email, postcode, membership number) is indexed lower-cased with accented
letters folded to their base letter (crm.staff.search.fold), and queries are folded the same way.
PostgreSQL: the trigram index moves to the folded expression (ix_contact_search_folded_trgm).
SQLite: the FTS5 triggers index the folded text, and the index is rebuilt once.

Revision ID: f01d5ea7c0de
Revises: a1b2c3d4e5f6
Create Date: 2026-12-06 21:30:00

"""
from alembic import op

from crm.staff.search import ensure_search_indexes

# revision identifiers, used by Alembic.
revision = 'f01d5ea7c0de'
down_revision = 'a1b2c3d4e5f6'
branch_labels = None
depends_on = None

_UNFOLDED = ("{t}.first_name || ' ' || {t}.last_name || ' ' || {t}.email || ' ' || {t}.postcode || ' ' || "
             "replace({t}.postcode, ' ', '') || ' ' || coalesce({t}.member_number, '')")


def upgrade():
    ensure_search_indexes(op.get_bind())


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_contact_search_folded_trgm")
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_contact_search_trgm ON contact USING gin ((lower({_UNFOLDED.format(t='contact')})) gin_trgm_ops)")
    elif bind.dialect.name == "sqlite":
        body = _UNFOLDED.format(t="new")
        op.execute("DROP TRIGGER IF EXISTS contact_search_ai")
        op.execute("DROP TRIGGER IF EXISTS contact_search_au")
        op.execute("CREATE TRIGGER contact_search_ai AFTER INSERT ON contact "
                   "WHEN NOT EXISTS (SELECT 1 FROM contact_search_paused) BEGIN "
                   f"INSERT INTO contact_search(rowid, body) VALUES (new.id, {body}); END")
        op.execute("CREATE TRIGGER contact_search_au AFTER UPDATE ON contact "
                   "WHEN NOT EXISTS (SELECT 1 FROM contact_search_paused) BEGIN "
                   "DELETE FROM contact_search WHERE rowid = old.id; "
                   f"INSERT INTO contact_search(rowid, body) VALUES (new.id, {body}); END")
        op.execute("DELETE FROM contact_search")
        op.execute(f"INSERT INTO contact_search(rowid, body) SELECT contact.id, {_UNFOLDED.format(t='contact')} FROM contact")
