"""The fast members CSV (cells built in SQL, batches, SQLite sort hint) writes exactly the bytes the
straightforward version wrote: one row at a time, `neutralise` on every cell, ORM rows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.models import Membership, Plan
from crm.staff import exports
from crm.staff.exports import MEMBER_COLUMNS, count_members, member_csv_lines, neutralise
from crm.staff.search import MemberFilters, apply_member_filters, gift_aid_declared, member_order
from tests.fixtures import make_contact
from tests.staff.conftest import declare_gift_aid, make_membership, make_plan


def reference_csv(filters: MemberFilters) -> str:
    """The export as it was first written: correlated subqueries, ORM rows, a Python pass per cell."""
    stmt = select(
        Contact.member_number, Contact.title, Contact.first_name, Contact.last_name, Contact.email,
        Contact.address_line1, Contact.address_line2, Contact.town, Contact.postcode, Contact.country,
        Plan.name, Membership.status, Membership.joined_at, Membership.paid_through, Membership.auto_renew,
        gift_aid_declared(), Contact.email_consent,
    ).select_from(Contact)  # fmt: skip
    stmt = apply_member_filters(stmt, filters).order_by(*member_order(filters.sort))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(MEMBER_COLUMNS)
    for row in db.session.execute(stmt):
        cells = [*row[:14], bool(row[14]) if row[14] is not None else "", bool(row[15]), bool(row[16])]
        writer.writerow([neutralise(cell) for cell in cells])
    return buffer.getvalue()


def reference_count(filters: MemberFilters) -> int:
    return (
        db.session.scalar(apply_member_filters(select(func.count(Contact.id)).select_from(Contact), filters))
        or 0
    )


@pytest.fixture
def varied(app):  # type: ignore[no-untyped-def]
    """Every kind of cell: formulas in every text column, commas, quotes, line breaks, unicode,
    an erased contact, contacts with no membership, several memberships, every status."""
    yearly = make_plan()
    odd_plan = make_plan("odd", name='=Odd, "plan"')
    monthly = make_plan("monthly", amount=300, interval="month", name="Monthly ✓")
    formulas = ["=1+1", "+44 20", "-minus", "@at", "\ttab", "\rcr"]
    columns = ["title", "first_name", "last_name", "address_line1", "address_line2", "town"]
    for i, (start, column) in enumerate(zip(formulas, columns, strict=True)):
        contact = make_contact(
            f"formula{i}@example.org", postcode=f"{start}1 1AA", country="GB", **{column: start}
        )
        make_membership(contact, yearly, "active", joined_days_ago=10 + i, auto_renew=bool(i % 2))
    quoted = make_contact("quoted@example.org", first_name='Ana "The" Smith, Jr', last_name="Line\nBreak\r\nTwo",
                          address_line1="1, High Street", town="Zürich", title="Dr.")  # fmt: skip
    make_membership(quoted, odd_plan, "lapsed", paid_days=-30)
    declare_gift_aid(quoted)
    unicode = make_contact(
        "unicode@example.org", first_name="Zoë", last_name="Ñúñez 李", address_line2="Straße ß"
    )
    old = make_membership(unicode, yearly, "expired", joined_days_ago=900, paid_days=-500)
    newer = make_membership(unicode, monthly, "grace", joined_days_ago=20, paid_days=-2, auto_renew=True)
    assert newer.id > old.id
    declare_gift_aid(unicode)
    make_contact("nomember@example.org", first_name="No", last_name="Membership", email_consent=True)
    make_contact("blank@example.org", first_name="", last_name="")
    erased = make_contact(
        "erased-123@erased.invalid", first_name="", last_name="", address_line1="", town="", postcode=""
    )
    erased.erased_at = utcnow()
    pending = make_contact("pending@example.org", first_name="Pen", last_name="Ding")
    make_membership(pending, yearly, "pending", paid_days=None, joined_days_ago=0)
    edge = make_contact("edge@example.org", first_name="Mid'night", last_name="Edge")
    make_membership(edge, yearly, "active", joined_days_ago=0, paid_days=0)
    edge_membership = db.session.scalars(select(Membership).where(Membership.contact_id == edge.id)).one()
    near_midnight = utcnow().replace(hour=23, minute=59, second=59, microsecond=999999)
    edge_membership.joined_at = near_midnight - timedelta(days=3)
    edge_membership.paid_through = near_midnight + timedelta(days=300)
    for n in range(25):  # more than one batch when BATCH is small
        contact = make_contact(f"bulk{n}@example.org", first_name=f"Bulk{n:02d}", last_name="Same")
        if n % 3:
            make_membership(
                contact, yearly if n % 2 else monthly, "active", joined_days_ago=n, auto_renew=n % 2 == 0
            )
        if n % 4 == 0:
            declare_gift_aid(contact)
    db.session.commit()


FILTERS = [
    MemberFilters(),
    MemberFilters(sort="-name"),
    MemberFilters(sort="joined"),
    MemberFilters(sort="-paid_through"),
    MemberFilters(sort="number"),
    MemberFilters(sort="bogus"),
    MemberFilters(status="active"),
    MemberFilters(status="none"),
    MemberFilters(q="bulk"),
    MemberFilters(q="zü"),
    MemberFilters(gift_aid=True),
    MemberFilters(gift_aid=False, consent=False),
    MemberFilters(consent=True),
    MemberFilters(q="example", gift_aid=True, sort="-joined"),
    MemberFilters(q="nobody-at-all"),
]


@pytest.mark.parametrize("batch", [1000, 4])
def test_fast_members_csv_is_byte_identical_to_the_reference_under_every_filter(varied, monkeypatch, batch):  # type: ignore[no-untyped-def]
    """Every filter and sort on one data set (building it is what costs: once per batch size)."""
    monkeypatch.setattr(exports, "BATCH", batch)
    for filters in FILTERS:
        label = repr(filters)
        expected = reference_csv(filters)
        assert "".join(member_csv_lines(filters)) == expected, label
        rows = len(list(csv.reader(io.StringIO(expected, newline="")))) - 1
        assert count_members(filters) == reference_count(filters) == rows, label


def test_every_formula_start_is_neutralised_in_the_sql_built_cells(varied):  # type: ignore[no-untyped-def]
    text = "".join(member_csv_lines(MemberFilters(q="formula")))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 6
    cells = [cell for row in rows for cell in row.values()]
    for start in exports.FORMULA_STARTS:
        assert not any(cell.startswith(start) for cell in cells), repr(start)
    assert sum(cell.startswith("'") for cell in cells) == 12  # the formula cell and the postcode of each
    plans = {
        row["plan"]
        for row in list(csv.DictReader(io.StringIO("".join(member_csv_lines(MemberFilters())), newline="")))
    }
    assert '\'=Odd, "plan"' in plans and "Monthly ✓" in plans


def test_the_export_streams_in_batches(varied, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(exports, "BATCH", 10)
    chunks = list(member_csv_lines(MemberFilters()))
    rows = db.session.scalar(select(func.count(Contact.id)))
    assert chunks[0] == ",".join(MEMBER_COLUMNS) + "\r\n"
    assert len(chunks) == 1 + -(-rows // 10)  # the header, then one string per 10 contacts
