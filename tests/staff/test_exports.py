"""The members CSV (page and CLI) and the payments CSV: RFC 4180, formula injection neutralised."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.staff.exports import MEMBER_COLUMNS, neutralise
from tests.fixtures import make_contact
from tests.staff.conftest import declare_gift_aid, make_membership, make_payment, make_plan

NASTY = {
    "first_name": '=HYPERLINK("http://x.example","click")',
    "last_name": "+1",
    "address_line1": "-1",
    "address_line2": "@SUM(A1)",
    "town": "\tTabbed",
    "title": "\rCR",
}


@pytest.fixture
def nasty(app):  # type: ignore[no-untyped-def]
    plan = make_plan()
    contact = make_contact("nasty@example.org", postcode="E1 6AN", **NASTY)
    make_membership(contact, plan, "active", auto_renew=True)
    declare_gift_aid(contact)
    plain = make_contact("plain@example.org", first_name='Plain, "Quoted"', last_name="Line\nBreak")
    make_membership(plain, plan, "lapsed", paid_days=-10)
    db.session.commit()
    return contact


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_get_an_apostrophe(value):  # type: ignore[no-untyped-def]
    assert neutralise(value) == "'" + value


def test_plain_cells_are_left_alone():  # type: ignore[no-untyped-def]
    assert [neutralise(v) for v in ("Ana", "N1 9GU", "", None, True, False, 12)] == [
        "Ana",
        "N1 9GU",
        "",
        "",
        "yes",
        "no",
        "12",
    ]


def test_members_csv_neutralises_and_round_trips(staff_client, nasty):  # type: ignore[no-untyped-def]
    response = staff_client.get("/staff/members/export.csv")
    assert response.status_code == 200
    assert response.is_streamed and response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith(",".join(MEMBER_COLUMNS) + "\r\n")  # RFC 4180 line ends
    rows = {r["email"]: r for r in read(text)}
    row = rows["nasty@example.org"]
    for column, field in (
        ("first name", "first_name"),
        ("last name", "last_name"),
        ("address line 1", "address_line1"),
        ("address line 2", "address_line2"),
        ("town", "town"),
        ("title", "title"),
    ):
        assert row[column] == "'" + NASTY[field], column
        assert row[column][1:] == NASTY[field]  # nothing else changed: the value round-trips
    assert (row["status"], row["auto-renew"], row["Gift Aid"], row["membership number"]) == (
        "active",
        "yes",
        "yes",
        nasty.member_number,
    )
    plain = rows["plain@example.org"]
    assert plain["first name"] == 'Plain, "Quoted"' and plain["last name"] == "Line\nBreak"
    assert plain["status"] == "lapsed" and plain["Gift Aid"] == "no"


def test_export_keeps_the_filters_and_is_audited(staff_client, staff_user, nasty):  # type: ignore[no-untyped-def]
    text = staff_client.get("/staff/members/export.csv?status=lapsed&q=plain").get_data(as_text=True)
    assert [r["email"] for r in read(text)] == ["plain@example.org"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export.members"))
    assert event.actor_user_id == staff_user.id
    assert event.after["rows"] == 1 and event.after["filters"] == {"q": "plain", "status": "lapsed"}


def test_export_with_nothing_found_is_just_the_header(staff_client, nasty):  # type: ignore[no-untyped-def]
    text = staff_client.get("/staff/members/export.csv?q=nobody-here").get_data(as_text=True)
    assert text == ",".join(MEMBER_COLUMNS) + "\r\n"


def test_cli_export_writes_the_same_csv_to_a_file(runner, staff_client, nasty, tmp_path):  # type: ignore[no-untyped-def]
    page = staff_client.get("/staff/members/export.csv").get_data(as_text=True)
    target = tmp_path / "members.csv"
    result = runner.invoke(args=["crm", "export-members", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes().decode("utf-8") == page
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.members")).all()
    assert any(e.actor_label == "cli" and e.after["via"] == "cli" for e in events)


def test_cli_export_to_stdout(runner, nasty):  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["crm", "export-members"])
    assert result.exit_code == 0, result.output
    assert "nasty@example.org" in result.output and "'=HYPERLINK" in result.output


def test_payments_csv_is_neutralised_too(staff_client, nasty):  # type: ignore[no-untyped-def]
    make_payment(nasty, None, 2500, method="cheque", reference="=cmd|' /C calc'!A0")
    db.session.commit()
    response = staff_client.get("/staff/payments/export.csv")
    assert response.headers["Cache-Control"] == "no-store"
    rows = read(response.get_data(as_text=True))
    assert rows[0]["reference"] == "'=cmd|' /C calc'!A0" and rows[0]["amount"] == "25.00"
    assert rows[0]["first name"].startswith("'=HYPERLINK")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export.payments"))
