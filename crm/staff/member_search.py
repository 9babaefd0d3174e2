"""The staff members page's search: one page of matches, cheap for a rare fragment and a common one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal_column, select, text

from crm.contacts.models import Contact
from crm.extensions import db
from crm.staff.search import (
    _FTS_TABLE,
    TRIGRAM_LENGTH,
    _like_condition,
    _sqlite_index_ready,
    escape_like,
    member_order,
    normalise_query,
    search_text_sql,
)

# --- the members page's search: cheap for a rare fragment and for a common one ----------------
#
# A search is answered in one of two ways, chosen by how common the fragment is:
# - rare (most searches: a surname, a postcode, a number): the index gives the matching ids (at
#   most SORT_CAP of them, POSTGRES_SORT_CAP through PostgreSQL's trigram index) and only those
#   are sorted by name for the page;
# - common (found in at least COMMON_SHARE of a sample, such as "example.net", or too many
#   matches for the first way): contacts are read in name order through the name index, each row
#   tested, until the page is full; the count stops at COUNT_CAP + 1.
# Either way the cost follows the page and the cap, not the number of contacts.

#: Rows read, in table order, to tell a common fragment from a rare one.
DENSITY_PROBE_ROWS = 1000
#: A fragment found in at least this share of the probe is "common".
COMMON_SHARE = 0.10
#: The most matches of a rare fragment that are sorted by name for the page.
SORT_CAP = 5000
#: The same on PostgreSQL, where the trigram index hands over a fragment's matches in one bitmap
#: scan and a top-N sort of them stays cheap far beyond SORT_CAP: at 1,000,000 contacts a surname
#: fragment with ~38,000 matches was otherwise read in name order over ~180,000 rows (p95 ~510 ms).
POSTGRES_SORT_CAP = 100_000


def _scan_like(column: Any, query: str) -> ColumnElement[bool]:
    return column.like(f"%{escape_like(query)}%", escape="\\")


def is_common_fragment(query: str) -> bool:
    """Whether the fragment is in at least COMMON_SHARE of the first DENSITY_PROBE_ROWS contacts."""
    sample = (
        select(literal_column(search_text_sql()).label("body")).select_from(Contact).limit(DENSITY_PROBE_ROWS)
    ).subquery()
    like = _scan_like(sample.c.body, query)
    rows, hits = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((like, 1), else_=0)), 0)).select_from(sample)
    ).one()
    return bool(rows) and hits >= COMMON_SHARE * rows


def _sort_cap(query: str) -> int:
    """How many matches the rare way sorts: more on PostgreSQL when the trigram index can be used."""
    return (
        POSTGRES_SORT_CAP
        if db.engine.dialect.name == "postgresql" and len(query) >= TRIGRAM_LENGTH
        else SORT_CAP
    )


def _index_matches(query: str, sort_cap: int) -> Any:
    """A subquery of at most sort_cap + 1 matching contacts (id and name), found through the index."""
    engine = db.engine
    if engine.dialect.name == "sqlite" and len(query) >= TRIGRAM_LENGTH and _sqlite_index_ready(engine):
        phrase = '"' + query.replace('"', '""') + '"'
        found: Select[*tuple[Any, ...]] = (
            select(literal_column("rowid"))
            .select_from(text(_FTS_TABLE))
            .where(literal_column(_FTS_TABLE).op("MATCH")(phrase))
            .limit(sort_cap + 1)
        )
        condition: ColumnElement[bool] = Contact.id.in_(found.scalar_subquery())
    else:
        condition = _like_condition(query)
    return (
        select(Contact.id, Contact.last_name, Contact.first_name)
        .where(condition)
        .limit(sort_cap + 1)
        .subquery()
    )


def _windows(first: int) -> list[int | None]:
    """Ever larger windows of contacts to read, then (None) all of them."""
    return [first, first * 8, first * 64, None]


def _more_contacts_than(window: int) -> bool:
    return db.session.scalar(select(Contact.id).limit(1).offset(window)) is not None


def _common_count(query: str, cap: int) -> int:
    """Matches of a common fragment, counted to cap + 1 over the first rows that hold that many
    (a window stops growing once it holds the whole table)."""
    for window in _windows(max(cap * 20, DENSITY_PROBE_ROWS)):
        texts: Select[*tuple[Any, ...]] = select(literal_column(search_text_sql()).label("body")).select_from(
            Contact
        )
        rows = (texts.limit(window) if window else texts).subquery()
        hits = select(rows.c.body).where(_scan_like(rows.c.body, query)).limit(cap + 1).subquery()
        total = db.session.scalar(select(func.count()).select_from(hits)) or 0
        if total > cap or window is None or not _more_contacts_than(window):
            return total
    return 0  # pragma: no cover  (the last window is the whole table)


def _common_page(query: str, *, per_page: int, page: int) -> list[int]:
    """A page of a common fragment's matches in name order: contacts are read in name order (the
    name index), a window at a time, each tested, until the page is full."""
    need = page * per_page
    for window in _windows(max(need * 20, DENSITY_PROBE_ROWS)):
        names = [Contact.last_name, Contact.first_name, Contact.id]
        ordered: Select[*tuple[Any, ...]] = select(Contact.id, Contact.last_name, Contact.first_name,
                         literal_column(search_text_sql()).label("body")).order_by(*names)  # fmt: skip
        rows = (ordered.limit(window) if window else ordered).subquery()
        outer = [rows.c.last_name, rows.c.first_name, rows.c.id]
        stmt = (
            select(rows.c.id)
            .where(_scan_like(rows.c.body, query))
            .order_by(*outer)
            .limit(per_page)
            .offset(need - per_page)
        )
        ids = list(db.session.scalars(stmt))
        if len(ids) == per_page or window is None or not _more_contacts_than(window):
            return ids
    return []  # pragma: no cover


def search_page(query: str, *, cap: int, per_page: int, page: int) -> tuple[int, list[int]]:
    """(matches counted to cap + 1, the page's contact ids in name order) for a search with no
    other filter. Cheap for a rare fragment (sort only the index's matches) and for a common one
    (read in name order until the page is full); never a sort of every contact."""
    query = normalise_query(query)
    if query and not is_common_fragment(query):
        sort_cap = _sort_cap(query)
        found = _index_matches(query, sort_cap)
        names = [found.c.last_name, found.c.first_name, found.c.id]
        rows = db.session.execute(
            select(found.c.id, func.count().over())
            .order_by(*names)
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        total = rows[0][1] if rows else db.session.scalar(select(func.count()).select_from(found)) or 0
        if total <= sort_cap:
            return total, [row[0] for row in rows]
    if not query:
        total = (
            db.session.scalar(select(func.count()).select_from(select(Contact.id).limit(cap + 1).subquery()))
            or 0
        )
        ordered = select(Contact.id).order_by(*member_order("name"))
        return total, list(db.session.scalars(ordered.limit(per_page).offset((page - 1) * per_page)))
    return _common_count(query, cap), _common_page(query, per_page=per_page, page=page)
