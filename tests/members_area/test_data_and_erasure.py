"""Download my data (mine and nobody else's) and the right to be forgotten."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from crm.accounts.models import User
from crm.audit.models import AuditEvent
from crm.billing.models import Payment, Refund
from crm.contacts.models import Contact, Note
from crm.email.services import queue_email
from crm.extensions import db
from crm.members_area.services import erase_contact, set_email_consent
from tests.fixtures import csrf_token, make_user
from tests.members_area.factories import forget_loaded_user, make_payment, sign_in


def _seed(member, other):  # type: ignore[no-untyped-def]
    mine = make_payment(member.contact, 3600, stripe_invoice_id="in_ana")
    db.session.add(Refund(payment_id=mine.id, amount=600, reason="partial"))
    make_payment(other.contact, 9900, stripe_invoice_id="in_bea")
    set_email_consent(member.contact, True, wording="Yes please")
    queue_email(
        member.contact.email,
        "cancellation_confirmed",
        {"name": "Ana", "plan_name": "Standard"},
        contact_id=member.contact_id,
    )
    queue_email(
        other.contact.email,
        "cancellation_confirmed",
        {"name": "Bea", "plan_name": "Standard"},
        contact_id=other.contact_id,
    )
    db.session.add(Note(contact_id=other.contact_id, body="Bea's private note"))
    db.session.add(Note(contact_id=member.contact_id, body="Rang about the renewal date"))
    db.session.commit()


def test_data_download_json_has_my_data_and_nothing_of_anyone_else(client, active_member, other_member):
    _seed(active_member, other_member)
    sign_in(client, active_member)
    response = client.get("/account/data.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.data)
    assert data["contact"]["email"] == "ana@example.org"
    assert [m["plan"] for m in data["memberships"]] == ["Standard Yearly"]
    assert data["memberships"][0]["events"][0]["reason"] == "paid by card"
    assert [p["amount"] for p in data["payments"]] == [3600]
    assert data["payments"][0]["refunds"][0]["amount"] == 600
    assert data["consents"][0]["granted"] is True and data["consents"][0]["source"] == "account"
    assert [e["kind"] for e in data["emails_sent"]] == ["cancellation_confirmed"]
    assert [n["note"] for n in data["staff_notes"]] == ["Rang about the renewal date"]
    text = response.get_data(as_text=True)
    for theirs in (
        "bea@example.org",
        "Bea",
        "99 Secret Road",
        "07700900999",
        ": 9900",  # her payment's amount as a value (bare digits can sit in a timestamp)
        "in_bea",
        "private note",
        "sub_bea",
    ):
        assert theirs not in text


def test_data_download_csv_is_the_same_data_safe_for_spreadsheets(client, active_member, other_member):
    _seed(active_member, other_member)
    contact = db.session.get(Contact, active_member.contact_id)
    contact.first_name = '=HYPERLINK("http://x","y")'
    db.session.commit()
    sign_in(client, active_member)
    response = client.get("/account/data.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["section", "record", "field", "value"]
    values = {(r[0], r[2]): r[3] for r in rows[1:]}
    assert values[("contact", "email")] == "ana@example.org"
    assert values[("contact", "first_name")].startswith("'=")
    assert values[("payments", "amount")] == "3600"
    assert "bea@example.org" not in response.get_data(as_text=True)


def test_ask_to_be_forgotten_records_the_request(client, active_member):
    sign_in(client, active_member)
    assert "Ask us to forget you" in client.get("/account/forget").get_data(as_text=True)
    token = csrf_token(client, "/account/forget")
    assert client.post("/account/forget", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    contact = db.session.get(Contact, active_member.contact_id)
    assert contact.erasure_requested_at is not None
    assert contact.first_name == "Ana"  # staff confirm it later
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.contact_id == contact.id)) == (
        "erasure.requested"
    )


def test_erase_contact_anonymises_and_ends_sessions_but_keeps_payments(
    client, active_member, other_member, stripe_sandbox
):
    _seed(active_member, other_member)
    db.session.add(Note(contact_id=active_member.contact_id, body="Ana called about her card"))
    db.session.get(Contact, active_member.contact_id).address_line1 = "7 Unique Lane"
    db.session.commit()
    sign_in(client, active_member)
    assert client.get("/account").status_code == 200
    staff = make_user("staff@example.org", "staff", first_name="Sasha", last_name="Staff")
    contact = db.session.get(Contact, active_member.contact_id)
    erase_contact(contact, actor=staff)
    db.session.commit()

    db.session.expire_all()
    contact = db.session.get(Contact, active_member.contact_id)
    assert contact.email == f"erased-{contact.id}@invalid"
    assert (
        contact.first_name,
        contact.last_name,
        contact.address_line1,
        contact.postcode,
        contact.phone,
    ) == ("", "", "", "", "")
    assert contact.email_consent is False and contact.erased_at is not None
    user = db.session.get(User, active_member.id)
    assert user.disabled and user.password_hash == ""
    forget_loaded_user()
    assert client.get("/account").status_code == 302  # the old session no longer works
    assert db.session.scalar(select(Payment.amount).where(Payment.contact_id == contact.id)) == 3600
    dump = " ".join(
        str(v)
        for table in db.metadata.sorted_tables
        for row in db.session.execute(table.select())
        for v in row
    )
    for personal in ("ana@example.org", "Torres", "7 Unique Lane", "Ana called"):
        assert personal not in dump
    assert "bea@example.org" in dump  # nobody else is touched
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "erasure.completed")) is not None


def test_the_data_download_names_the_payment_method_as_the_account_page_does(client, active_member):
    make_payment(active_member.contact, 3600, method="direct_debit", stripe_invoice_id="in_dd")
    db.session.commit()
    sign_in(client, active_member)
    assert "Direct Debit</td>" in client.get("/account").get_data(as_text=True)
    data = json.loads(client.get("/account/data.json").data)
    assert [p["method"] for p in data["payments"]] == ["Direct Debit"]
    client.get("/language/es")
    assert "Domiciliación bancaria</td>" in client.get("/account").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(client.get("/account/data.csv").get_data(as_text=True))))
    assert ["Domiciliación bancaria"] == [r[3] for r in rows if r[0] == "payments" and r[2] == "method"]
