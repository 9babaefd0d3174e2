"""Substring search over contacts that stays fast at 100,000 rows and more.

PostgreSQL: a pg_trgm GIN index on one lower-cased text expression, queried with LIKE.
SQLite: an FTS5 table with the trigram tokenizer, kept in step with `contact` by triggers.
Both match any fragment of a name, email, postcode (with or without its space) or membership
number. Queries shorter than three characters cannot use trigrams and fall back to a LIKE scan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, func, literal_column, select, text, type_coerce
from sqlalchemy.engine import Connection, Engine

from crm.contacts.models import Contact, GiftAidDeclaration
from crm.core.text import FOLD_FROM, FOLD_TO, fold
from crm.extensions import db
from crm.memberships.models import Membership, Plan


def _searched(table: str) -> str:
    return (
        f"{table}.first_name || ' ' || {table}.last_name || ' ' || {table}.email || ' ' || "
        f"{table}.postcode || ' ' || replace({table}.postcode, ' ', '') || ' ' || "
        f"coalesce({table}.member_number, '')"
    )


def _sqlite_folded(expression: str) -> str:
    """SQLite folds with `crm_fold`, registered on every connection (crm.core.database)."""
    return f"crm_fold({expression})"


#: The folded text PostgreSQL searches, kept in a stored generated column (`contact_search_text`,
#: trigram-indexed): a match is rechecked against stored text, not folded again per candidate row
#: (that took search at 100,000 from 1.38 to 2.23 × the 1,000 p95). Constants, never from input.
PG_FOLDED_EXPRESSION = f"translate(lower({_searched('contact')}), '{FOLD_FROM}', '{FOLD_TO}')"
PG_SEARCH_TEXT_SQL = "contact.contact_search_text"
SQLITE_SEARCH_TEXT_SQL = _sqlite_folded(_searched("contact"))
#: Every statement below is a fixed literal: nothing in them comes from input.
_PG_DDL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # The indexes before: on the lower-cased text, then on the folded expression.
    "DROP INDEX IF EXISTS ix_contact_search_trgm",
    "DROP INDEX IF EXISTS ix_contact_search_folded_trgm",
    "ALTER TABLE contact ADD COLUMN IF NOT EXISTS contact_search_text text "
    f"GENERATED ALWAYS AS ({PG_FOLDED_EXPRESSION.replace('contact.', '')}) STORED",
    "CREATE INDEX IF NOT EXISTS ix_contact_search_text_trgm ON contact USING gin (contact_search_text gin_trgm_ops)",
)
_FTS_TABLE = "contact_search"
#: The shortest query either index can answer (one trigram); a shorter one is a LIKE scan.
TRIGRAM_LENGTH = 3
_NEW_BODY = _sqlite_folded(_searched("new"))
#: While contact_search_paused holds a row, the insert and update triggers stand aside and a bulk
#: writer indexes its rows itself, one statement per batch (see `batch_indexing`).
_SQLITE_TRIGGERS = {
    "contact_search_ai": "CREATE TRIGGER contact_search_ai AFTER INSERT ON contact "  # noqa: S608  # nosec B608 (constants)
    "WHEN NOT EXISTS (SELECT 1 FROM contact_search_paused) BEGIN "
    f"INSERT INTO contact_search(rowid, body) VALUES (new.id, {_NEW_BODY}); END",
    "contact_search_ad": "CREATE TRIGGER contact_search_ad AFTER DELETE ON contact BEGIN "
    "DELETE FROM contact_search WHERE rowid = old.id; END",
    "contact_search_au": "CREATE TRIGGER contact_search_au AFTER UPDATE ON contact "  # noqa: S608  # nosec B608 (constants)
    "WHEN NOT EXISTS (SELECT 1 FROM contact_search_paused) BEGIN "
    "DELETE FROM contact_search WHERE rowid = old.id; "
    f"INSERT INTO contact_search(rowid, body) VALUES (new.id, {_NEW_BODY}); END",
}
_SQLITE_DROP_TRIGGER = {name: "DROP TRIGGER " + name for name in _SQLITE_TRIGGERS}
_SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS contact_search USING fts5(body, tokenize='trigram')",
    # Merge index segments 8 at a time rather than FTS5's default 4: a 100,000-row import spent
    # ~8 % less time merging (and grew closer to linearly), while a search still reads few segments.
    "INSERT INTO contact_search(contact_search, rank) VALUES ('automerge', 8)",
    "CREATE TABLE IF NOT EXISTS contact_search_paused (id INTEGER PRIMARY KEY)",
    # Only ever written inside a bulk writer's own transaction; a leftover row would stop indexing.
    "DELETE FROM contact_search_paused",
)
_SQLITE_INDEX_ROWS = (
    f"INSERT INTO contact_search(rowid, body) SELECT contact.id, {SQLITE_SEARCH_TEXT_SQL} "  # noqa: S608  # nosec B608
    "FROM contact WHERE contact.id IN (SELECT value FROM json_each(:ids))"
)
_SQLITE_UNINDEX_ROWS = "DELETE FROM contact_search WHERE rowid IN (SELECT value FROM json_each(:ids))"
_SQLITE_REBUILD = (
    "DELETE FROM contact_search",
    f"INSERT INTO contact_search(rowid, body) SELECT contact.id, {SQLITE_SEARCH_TEXT_SQL} FROM contact",  # noqa: S608  # nosec B608
)


def search_text_sql() -> str:
    """The searched text for this database (see PG_SEARCH_TEXT_SQL); PostgreSQL made without the
    search indexes (`db.create_all()` alone) computes the same folded text per row instead."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return SQLITE_SEARCH_TEXT_SQL
    return PG_SEARCH_TEXT_SQL if _pg_search_column_ready(engine) else PG_FOLDED_EXPRESSION


def _pg_search_column_ready(engine: Engine) -> bool:
    ready = getattr(engine, "_crm_search_column", None)
    if ready is None:
        with engine.connect() as conn:
            ready = bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.columns "
                        "WHERE table_name = 'contact' AND column_name = 'contact_search_text' "
                        "AND table_schema = current_schema()"
                    )
                ).scalar_one()
            )
        engine._crm_search_column = ready  # type: ignore[attr-defined]  # our own marker on the Engine object
    return bool(ready)


def ensure_search_indexes(bind: Engine | Connection) -> None:
    """Create the search index (extension, index or FTS table and triggers); safe to run again.

    Takes an engine (tests, scripts) or a connection (an Alembic migration: `op.get_bind()`).
    """
    if isinstance(bind, Connection):
        _create_search_indexes(bind)
        return
    with bind.begin() as conn:
        _create_search_indexes(conn)
    bind._crm_search_ready = True  # type: ignore[attr-defined]  # our own marker on the Engine object
    bind._crm_search_column = bind.dialect.name == "postgresql"  # type: ignore[attr-defined]  # the same


def _create_search_indexes(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for statement in _PG_DDL:
            conn.execute(text(statement))
    elif conn.dialect.name == "sqlite":
        for statement in _SQLITE_DDL:
            conn.execute(text(statement))
        have: dict[str, str] = dict(
            conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE :p"),
                {"p": "contact_search_a_"},
            ).all()
        )
        for name, ddl in _SQLITE_TRIGGERS.items():
            if have.get(name) not in (None, ddl):
                conn.execute(text(_SQLITE_DROP_TRIGGER[name]))  # an older spelling
            if have.get(name) != ddl:
                conn.execute(text(ddl))
        if any(have.get(name) != ddl for name, ddl in _SQLITE_TRIGGERS.items()):
            # New or re-spelt triggers: what was indexed before them is missing or unfolded.
            for statement in _SQLITE_REBUILD:
                conn.execute(text(statement))


@dataclass
class SearchBatch:
    """The contacts a bulk writer inserted (`added`) or changed (`changed`) inside `batch_indexing`."""

    added: set[int] = field(default_factory=set)
    changed: set[int] = field(default_factory=set)


@contextmanager
def batch_indexing() -> Iterator[SearchBatch]:
    """Index the contacts written in this block with one statement, not a trigger call per row.

    SQLite's FTS5 writes its pending entries out as a new index segment at every statement
    savepoint, and each statement that fires a trigger opens one: an executemany of 2,000 contact
    inserts wrote 2,000 one-row segments, which FTS5 then merged over and over (about 75 µs a
    row, more as the table grew). Inside the block the insert and update triggers stand aside (a
    row in contact_search_paused, written and removed in the caller's transaction, so no other
    connection ever sees it); at the end the contacts named in the batch are indexed in one go,
    into one segment. The caller adds the id of every contact it inserts or changes, and commits.
    PostgreSQL's GIN index needs nothing of this: there the block is a plain block.
    """
    batch = SearchBatch()
    if db.engine.dialect.name != "sqlite" or not _sqlite_index_ready(db.engine):
        yield batch
        return
    db.session.execute(text("INSERT INTO contact_search_paused (id) VALUES (1)"))
    # If the block raises, the caller rolls back, and the pause row goes with the rest.
    yield batch
    db.session.execute(text("DELETE FROM contact_search_paused"))
    if batch.changed:
        db.session.execute(text(_SQLITE_UNINDEX_ROWS), {"ids": json.dumps(sorted(batch.changed))})
    fresh = batch.added | batch.changed
    if fresh:
        db.session.execute(text(_SQLITE_INDEX_ROWS), {"ids": json.dumps(sorted(fresh))})


def _sqlite_index_ready(engine: Engine) -> bool:
    ready = getattr(engine, "_crm_search_ready", None)
    if ready is None:
        with engine.connect() as conn:
            ready = bool(
                conn.execute(
                    text("SELECT count(*) FROM sqlite_master WHERE name = :n"), {"n": _FTS_TABLE}
                ).scalar_one()
            )
        engine._crm_search_ready = ready  # type: ignore[attr-defined]  # our own marker on the Engine object
    return bool(ready)


def normalise_query(query: str | None) -> str:
    return fold(re.sub(r"\s+", " ", (query or "").strip()))[:100]


def escape_like(value: str) -> str:
    """Make %, _ and the escape character itself match literally in a LIKE pattern."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_condition(query: str) -> ColumnElement[bool]:
    return literal_column(search_text_sql()).like(f"%{escape_like(query)}%", escape="\\")


def search_condition(query: str | None) -> ColumnElement[bool] | None:
    """A WHERE condition on `contact` matching the query as a substring; None when there is no query."""
    query = normalise_query(query)
    if not query:
        return None
    engine = db.engine
    if engine.dialect.name == "sqlite" and len(query) >= TRIGRAM_LENGTH and _sqlite_index_ready(engine):
        # A quoted FTS5 phrase is literal text: only a double quote needs escaping (by doubling).
        phrase = '"' + query.replace('"', '""') + '"'
        matches: Select[*tuple[Any, ...]] = (
            select(literal_column("rowid"))
            .select_from(text(_FTS_TABLE))
            .where(literal_column(_FTS_TABLE).op("MATCH")(phrase))
        )
        return Contact.id.in_(matches.scalar_subquery())
    return _like_condition(query)


def search_contacts(query: str | None, *, limit: int = 50) -> list[Contact]:
    """Contacts whose name, email, postcode or membership number contains the query."""
    condition = search_condition(query)
    if condition is None:
        return []
    stmt = select(Contact).where(condition).order_by(Contact.last_name, Contact.first_name).limit(limit)
    return list(db.session.scalars(stmt))


# --- the members list: search plus filters, shared by the page and the CSV export ------------

#: Sort keys staff may choose; anything else falls back to name (never string-built ORDER BY).
SORT_KEYS = ("name", "joined", "paid_through", "number")


@dataclass(frozen=True)
class MemberFilters:
    q: str = ""
    status: str = ""
    plan_id: int | None = None
    joined_from: date | None = None
    joined_to: date | None = None
    gift_aid: bool | None = None
    consent: bool | None = None
    #: How they came to us (Contact.source, a crm.contacts.sources.ContactSource).
    source: str = ""
    sort: str = "name"

    def describe(self) -> dict[str, str]:
        """The filters in use, for the audit trail and the page."""
        out = {}
        for name, value in asdict(self).items():
            if value not in (None, "") and not (name == "sort" and value == "name"):
                out[name] = value.isoformat() if isinstance(value, date) else str(value)
        return out


def latest_membership_id() -> Any:
    """The contact's newest membership (the current one when there is one)."""
    return (
        select(func.max(Membership.id))
        .where(Membership.contact_id == Contact.id)
        .correlate(Contact)
        .scalar_subquery()
    )


def gift_aid_declared() -> Any:
    return (
        select(GiftAidDeclaration.id)
        .where(GiftAidDeclaration.contact_id == Contact.id, GiftAidDeclaration.cancelled_at.is_(None))
        .correlate(Contact)
        .exists()
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def uses_membership(filters: MemberFilters) -> bool:
    """Whether any filter looks at the newest membership (else counting needs no join)."""
    return bool(filters.status or filters.plan_id or filters.joined_from or filters.joined_to)


def apply_contact_filters(stmt: Select[Any], filters: MemberFilters) -> Select[Any]:
    """The filters on the contact alone (search, Gift Aid, consent): no membership join."""
    condition = search_condition(filters.q)
    if condition is not None:
        stmt = stmt.where(condition)
    if filters.gift_aid is not None:
        stmt = stmt.where(gift_aid_declared() if filters.gift_aid else ~gift_aid_declared())
    if filters.consent is not None:
        stmt = stmt.where(Contact.email_consent.is_(filters.consent))
    if filters.source:
        stmt = stmt.where(Contact.source == filters.source)
    return stmt


#: The members page counts this many matches at most and shows "1,000+" beyond.
COUNT_CAP = 1000


def count_members_capped(filters: MemberFilters, cap: int | None = None) -> int:
    """How many contacts match, counting no further than cap + 1 (a broad fragment costs no more)."""
    cap = COUNT_CAP if cap is None else cap
    stmt = select(Contact.id).select_from(Contact)
    if uses_membership(filters):
        stmt = apply_member_filters(stmt, filters)
    else:
        stmt = apply_contact_filters(stmt, filters)
    return db.session.scalar(select(func.count()).select_from(stmt.limit(cap + 1).subquery())) or 0


def apply_member_filters(
    stmt: Select[*tuple[Any, ...]], filters: MemberFilters, *, grouped: bool = False
) -> Select[*tuple[Any, ...]]:
    """Join the newest membership and plan, then narrow by every filter (all in SQL).

    `grouped`: find every contact's newest membership in one grouped pass joined by hash, rather
    than a subquery per contact (for reading every contact, as the export does, on PostgreSQL).
    """
    if grouped:
        newest = (
            select(Membership.contact_id, func.max(Membership.id).label("id"))
            .group_by(Membership.contact_id)
            .subquery()
        )
        stmt = stmt.outerjoin(newest, newest.c.contact_id == Contact.id).outerjoin(
            Membership, Membership.id == newest.c.id
        )
    else:
        stmt = stmt.outerjoin(Membership, Membership.id == latest_membership_id())
    stmt = stmt.outerjoin(Plan, Plan.id == Membership.plan_id)
    condition = search_condition(filters.q)
    if condition is not None:
        stmt = stmt.where(condition)
    if filters.status == "none":
        stmt = stmt.where(Membership.id.is_(None))
    elif filters.status:
        stmt = stmt.where(Membership.status == filters.status)
    if filters.plan_id:
        stmt = stmt.where(Membership.plan_id == filters.plan_id)
    if filters.joined_from:
        stmt = stmt.where(Membership.joined_at >= _start_of(filters.joined_from))
    if filters.joined_to:
        stmt = stmt.where(Membership.joined_at < _start_of(filters.joined_to) + timedelta(days=1))
    if filters.gift_aid is not None:
        stmt = stmt.where(gift_aid_declared() if filters.gift_aid else ~gift_aid_declared())
    if filters.consent is not None:
        stmt = stmt.where(Contact.email_consent.is_(filters.consent))
    if filters.source:
        stmt = stmt.where(Contact.source == filters.source)
    return stmt


def member_order(sort: str, *, unindexed: bool = False) -> list[Any]:
    """ORDER BY for a sort key from SORT_KEYS ("-" for descending), ties broken by id.

    `unindexed`: the same order spelled `column || ''`, so that SQLite sorts once instead of
    walking an index and reading each row through it (for reading every contact, as the export does).
    """
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        key, descending = "name", False
    sort_columns: dict[str, list[Any]] = {
        "name": [Contact.last_name, Contact.first_name],
        "joined": [Membership.joined_at],
        "paid_through": [Membership.paid_through],
        "number": [Contact.member_number],
    }
    columns = sort_columns[key]
    tie = [Contact.id.desc() if descending else Contact.id.asc()]
    if unindexed:
        columns = [type_coerce(c, String).concat("") for c in columns]
    elif key == "name":
        # Names are NOT NULL: a plain ORDER BY lets ix_contact_last_first give the first page
        # without sorting every match (NULLS LAST would force a sort on SQLite).
        return [c.desc() if descending else c.asc() for c in columns] + tie
    return [(c.desc() if descending else c.asc()).nulls_last() for c in columns] + tie
