"""CSV exports (members and payments), streamed in batches so memory stays flat at any size.

The same generator serves the staff page and `flask crm export-members`. Quoting follows
RFC 4180 (csv.writer, CRLF line ends); a cell a spreadsheet would read as a formula is prefixed
with an apostrophe.

Speed (issue 8, benchmark 5): rows are fetched `BATCH` at a time (a server-side cursor on
PostgreSQL) and each batch becomes one string through `csv.writer.writerows`. The members
export builds every cell in SQL (formula neutralising, yes/no, UTC dates), so Core rows go to
csv.writer untouched; tests/staff/test_export_speedups.py proves the bytes equal a per-cell
`neutralise` pass. On SQLite the sort runs over a sequential table scan: walking the name index
instead fetches every contact row in random order and costs twice the whole export. On
PostgreSQL JIT is off for the export's transaction (compiling cost more than it saved).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Select, String, case, func, literal, select, text

from crm.audit.services import record
from crm.billing.models import payment_method_label
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.core.csv_export import BATCH, FORMULA_STARTS, csv_lines, csv_text
from crm.core.csv_export import neutralise as neutralise  # re-exported: the exports' cell rule
from crm.core.features import gift_aid_enabled
from crm.extensions import db
from crm.memberships.models import Membership, Plan
from crm.staff.search import (
    MemberFilters,
    apply_member_filters,
    gift_aid_declared,
    member_order,
    search_condition,
)

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).

MEMBER_COLUMNS = [
    "membership number",
    "title",
    "first name",
    "last name",
    "email",
    "address line 1",
    "address line 2",
    "town",
    "postcode",
    "country",
    "plan",
    "status",
    "joined",
    "paid through",
    "auto-renew",
    "Gift Aid",
    "email consent",
]

PAYMENT_COLUMNS = [
    "date",
    "membership number",
    "first name",
    "last name",
    "email",
    "kind",
    "plan",
    "method",
    "status",
    "amount",
    "refunded",
    "currency",
    "reference",
    "Stripe payment",
]


def member_columns() -> list[str]:
    """The members CSV's header: no Gift Aid column when the organisation has Gift Aid off."""
    return MEMBER_COLUMNS if gift_aid_enabled() else [c for c in MEMBER_COLUMNS if c != "Gift Aid"]


def member_export_select(filters: MemberFilters) -> Select[*tuple[Any, ...]]:
    """The members CSV query: every cell already the text the CSV holds (NULL writes as empty).

    Neutralising, yes/no and the dates are done in SQL, so each batch of rows goes to
    csv.writer as it comes: the same cells `neutralise` makes, without Python work per cell.
    """
    sqlite = db.engine.dialect.name == "sqlite"
    # PostgreSQL: each contact's newest membership and whether they have a live declaration come
    # from two grouped passes joined by hash (half the time of a subquery run per contact);
    # SQLite walks its indexes per contact faster than it builds the grouped tables.
    with_gift_aid = gift_aid_enabled()
    declared = (
        None
        if sqlite or not with_gift_aid
        else (
            select(GiftAidDeclaration.contact_id)
            .where(GiftAidDeclaration.cancelled_at.is_(None))
            .distinct()
            .subquery()
        )
    )
    gift_aid = gift_aid_declared() if declared is None else declared.c.contact_id.is_not(None)
    stmt: Select[*tuple[Any, ...]] = select(
        *[
            _safe_text(column)
            for column in (
                Contact.member_number,
                Contact.title,
                Contact.first_name,
                Contact.last_name,
                Contact.email,
                Contact.address_line1,
                Contact.address_line2,
                Contact.town,
                Contact.postcode,
                Contact.country,
                Plan.name,
                Membership.status,
            )
        ],
        _utc_date(Membership.joined_at, sqlite=sqlite),
        _utc_date(Membership.paid_through, sqlite=sqlite),
        case(
            (Membership.auto_renew.is_(None), _text("")),
            (Membership.auto_renew.is_(True), _text("yes")),
            else_=_text("no"),
        ),
        *([case((gift_aid, _text("yes")), else_=_text("no"))] if with_gift_aid else []),
        case((Contact.email_consent.is_(True), _text("yes")), else_=_text("no")),
    ).select_from(Contact)
    stmt = apply_member_filters(stmt, filters, grouped=not sqlite)
    if declared is not None:
        stmt = stmt.outerjoin(declared, declared.c.contact_id == Contact.id)
    if not sqlite:
        return stmt.order_by(*member_order(filters.sort))
    # A rowid range lets SQLite scan the table in order (every id is positive: nothing is lost);
    # `column || ''` is the same value and order, but no index can serve it.
    return stmt.where(Contact.id > 0).order_by(*member_order(filters.sort, unindexed=True))


def _text(value: str) -> Any:
    return literal(value, String)


def _safe_text(column: Any) -> Any:
    """The column, with an apostrophe before a first character that would start a formula."""
    return case(
        (func.substr(column, 1, 1).in_(FORMULA_STARTS), _text("'").concat(column)),
        else_=column,
    )


def _utc_date(column: Any, *, sqlite: bool) -> Any:
    """The UTC calendar date of a UTCDateTime column as `YYYY-MM-DD` text (NULL stays NULL).

    SQLite keeps UTCDateTime as `YYYY-MM-DD HH:MM:SS.ffffff` text in UTC; PostgreSQL keeps a
    timestamptz, read here in UTC whatever the session's time zone.
    """
    if sqlite:
        return func.substr(column, 1, 10, type_=String)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)


def count_members(filters: MemberFilters) -> int:
    """How many contacts the members CSV holds for these filters (one query)."""
    base = select(func.count(Contact.id)).select_from(Contact)
    if replace(filters, q="", gift_aid=None, consent=None, sort="name") != MemberFilters():
        return db.session.scalar(apply_member_filters(base, filters)) or 0
    # No filter on the membership: its join (one newest membership or none per contact) cannot
    # change the count, and SQLite would still run its subquery for every contact.
    condition = search_condition(filters.q)
    if condition is not None:
        base = base.where(condition)
    if filters.gift_aid is not None:
        base = base.where(gift_aid_declared() if filters.gift_aid else ~gift_aid_declared())
    if filters.consent is not None:
        base = base.where(Contact.email_consent.is_(filters.consent))
    return db.session.scalar(base) or 0


def _streamed(stmt: Select[Any]) -> Iterator[Any]:
    """Rows in batches: a server-side cursor on PostgreSQL, a plain cursor on SQLite."""
    for batch in _batches(stmt):
        yield from batch


def _batches(stmt: Select[Any]) -> Iterator[Sequence[Any]]:
    result = db.session.execute(stmt.execution_options(yield_per=BATCH, stream_results=True))
    try:
        yield from result.partitions(BATCH)
    finally:
        result.close()


def member_csv_lines(filters: MemberFilters) -> Iterator[str]:
    """The members CSV: the header, then one string per `BATCH` contacts."""
    yield csv_text([member_columns()])
    # Core, not ORM, rows; a server-side cursor on PostgreSQL (SQLite's cursor already streams).
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # The per-contact subqueries make the planner's estimate large enough to JIT-compile
        # the query, which costs more than the whole export saves (this transaction only).
        connection.execute(text("SET LOCAL jit = off"))
    result = connection.execute(
        member_export_select(filters), execution_options={"stream_results": True, "max_row_buffer": BATCH}
    )
    try:
        while batch := result.fetchmany(BATCH):
            yield csv_text(batch)
    finally:
        result.close()


def audit_member_export(filters: MemberFilters, *, rows: int, via: str, actor: Any = None) -> None:
    record(
        "export.members",
        target_type="export",
        target_id="members",
        after={"rows": rows, "filters": filters.describe(), "via": via},
        detail=f"{rows} rows",
        actor=actor,
        actor_label=None if actor is not None or via == "page" else "cli",
    )


def payment_csv_lines(stmt: Select[Any]) -> Iterator[str]:
    rows = (
        [
            payment.paid_at or payment.created_at,
            number,
            first,
            last,
            email,
            payment.kind,
            plan_name or "",
            payment_method_label(payment.method),
            payment.status,
            f"{payment.amount / 100:.2f}",
            f"{payment.amount_refunded / 100:.2f}",
            payment.currency.upper(),
            payment.reference,
            payment.stripe_payment_intent_id or payment.stripe_invoice_id or "",
        ]
        for payment, number, first, last, email, plan_name in _streamed(stmt)
    )
    return csv_lines(PAYMENT_COLUMNS, rows)


def payment_rows_select(base: Select[Any]) -> Select[Any]:
    """Add the contact and plan columns the payments CSV needs to a filtered payments select."""
    return base.add_columns(
        Contact.member_number, Contact.first_name, Contact.last_name, Contact.email, Plan.name
    )
