"""SQLite search triggers stand aside while a bulk writer indexes its own rows

An executemany of contact inserts fired the FTS5 trigger once per row, and FTS5 wrote each row
as its own index segment (a statement savepoint flushes it), then merged them again and again.
The insert and update triggers now skip their work while contact_search_paused holds a row; the
CSV import writes that row inside its own transaction and indexes each chunk in one statement.
Nothing changes on PostgreSQL.

Revision ID: d4f2b6a8c1e3
Revises: c3d8a9f1e2b4
Create Date: 2026-11-27 20:10:00

"""
from alembic import op

from crm.staff.search import ensure_search_indexes

# revision identifiers, used by Alembic.
revision = 'd4f2b6a8c1e3'
down_revision = 'c3d8a9f1e2b4'
branch_labels = None
depends_on = None

#: The triggers as revision b7c1e0a4f2d9 made them (what downgrade puts back).
_BODY = ("new.first_name || ' ' || new.last_name || ' ' || new.email || ' ' || new.postcode || ' ' || "
         "replace(new.postcode, ' ', '') || ' ' || coalesce(new.member_number, '')")
_PREVIOUS = (
    "CREATE TRIGGER contact_search_ai AFTER INSERT ON contact BEGIN "
    f"INSERT INTO contact_search(rowid, body) VALUES (new.id, {_BODY}); END",
    "CREATE TRIGGER contact_search_au AFTER UPDATE ON contact BEGIN "
    "DELETE FROM contact_search WHERE rowid = old.id; "
    f"INSERT INTO contact_search(rowid, body) VALUES (new.id, {_BODY}); END",
)


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        ensure_search_indexes(op.get_bind())  # replaces the two triggers; the index itself is current


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS contact_search_ai")
        op.execute("DROP TRIGGER IF EXISTS contact_search_au")
        op.execute("DROP TABLE IF EXISTS contact_search_paused")
        for statement in _PREVIOUS:
            op.execute(statement)
