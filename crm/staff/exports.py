"""CSV exports (members and payments), streamed row by row so memory stays flat at any size.

The same generator serves the staff page and `flask crm export-members`. Quoting follows
RFC 4180 (csv.writer, CRLF line ends); a cell a spreadsheet would read as a formula is prefixed
with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from crm.audit.services import record
from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership, Plan
from crm.staff.search import MemberFilters, apply_member_filters, gift_aid_declared, member_order

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 1000

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


def neutralise(value: object) -> str:
    """A cell as text, with a leading apostrophe when it would start a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.date().isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: list[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Yield CSV text, one line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    # The header alone (no rows) still goes out.
    if buffer.getvalue():
        yield buffer.getvalue()


def member_export_select(filters: MemberFilters) -> Select[Any]:
    stmt = select(
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
        Membership.joined_at,
        Membership.paid_through,
        Membership.auto_renew,
        gift_aid_declared(),
        Contact.email_consent,
    ).select_from(Contact)
    return apply_member_filters(stmt, filters).order_by(*member_order(filters.sort))


def count_members(filters: MemberFilters) -> int:
    stmt = apply_member_filters(select(func.count(Contact.id)).select_from(Contact), filters)
    return db.session.scalar(stmt) or 0


def _streamed(stmt: Select[Any]) -> Iterator[Any]:
    """Rows in batches: a server-side cursor on PostgreSQL, a plain cursor on SQLite."""
    result = db.session.execute(stmt.execution_options(yield_per=BATCH, stream_results=True))
    try:
        yield from result
    finally:
        result.close()


def member_csv_lines(filters: MemberFilters) -> Iterator[str]:
    rows = (
        [*row[:14], bool(row[14]) if row[14] is not None else "", bool(row[15]), bool(row[16])]
        for row in _streamed(member_export_select(filters))
    )
    return csv_lines(MEMBER_COLUMNS, rows)


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
            payment.method,
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

