"""One contact's whole story, the view audit, editing with optimistic locking, and notes."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.billing.models import Refund
from crm.contacts.models import Contact, Note
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import MembershipEvent
from tests.fixtures import make_contact
from tests.staff.conftest import count_queries, declare_gift_aid, make_membership, make_payment, make_plan

DETAILS = {
    "version": "1",
    "title": "Dr",
    "first_name": "Ana",
    "last_name": "Torres-Gómez",
    "email": "ana.new@example.org",
    "address_line1": "2 New Road",
    "address_line2": "",
    "town": "Leeds",
    "postcode": "ls1 4ap",
    "country": "gb",
    "phone": "",
}


def seed_story(contact: Contact, extra: int = 1) -> None:
    plan = make_plan(f"plan-{contact.id}-{extra}")
    membership = make_membership(contact, plan, "active")
    db.session.add(
        MembershipEvent(
            membership_id=membership.id,
            from_status="pending",
            to_status="active",
            reason="first payment received",
        )
    )
    for i in range(extra):
        payment = make_payment(contact, membership, 3600 + i, stripe_payment_intent_id=f"pi_{contact.id}_{i}")
        db.session.add(Refund(payment_id=payment.id, amount=100, stripe_refund_id=f"re_{contact.id}_{i}"))
        db.session.add(Note(contact_id=contact.id, body=f"Phoned about renewal {i}"))
        db.session.add(
            OutboxMessage(
                to_email=contact.email,
                contact_id=contact.id,
                kind="receipt",
                subject=f"Receipt {i}",
                body_text="Thanks",
            )
        )
        declare_gift_aid(contact)
    db.session.commit()


def test_member_page_tells_the_whole_story(staff_client, app):  # type: ignore[no-untyped-def]
    contact = make_contact("story@example.org", first_name="Stella", last_name="Story")
    seed_story(contact)
    html = staff_client.get(f"/staff/members/{contact.id}").get_data(as_text=True)
    for text in (
        "Stella Story",
        "story@example.org",
        "first payment received",
        "£36.00",
        "re_",
        "Phoned about renewal 0",
        "Receipt 0",
        "Gift Aid declarations",
        "Audit trail",
    ):
        assert text in html, text
    assert "badge-active" in html


def test_viewing_a_member_is_audited(staff_client, staff_user, app):  # type: ignore[no-untyped-def]
    contact = make_contact("viewed@example.org")
    db.session.commit()
    staff_client.get(f"/staff/members/{contact.id}")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "member.view"))
    assert event.contact_id == contact.id and event.actor_user_id == staff_user.id
    # ... and the view shows on the contact's own trail next time.
    assert "member.view" in staff_client.get(f"/staff/members/{contact.id}").get_data(as_text=True)


def test_unknown_member_is_404(staff_client):  # type: ignore[no-untyped-def]
    assert staff_client.get("/staff/members/999999").status_code == 404


def test_member_page_queries_do_not_grow_with_the_record(staff_client, app):  # type: ignore[no-untyped-def]
    small = make_contact("small@example.org")
    seed_story(small, 1)
    big = make_contact("big@example.org")
    seed_story(big, 6)
    staff_client.get(f"/staff/members/{small.id}")
    db.session.commit()
    with count_queries() as few:
        staff_client.get(f"/staff/members/{small.id}")
    db.session.commit()
    with count_queries() as many:
        staff_client.get(f"/staff/members/{big.id}")
    assert len(few) == len(many), "\n".join(s[:100] for s in few + ["----"] + many)


def test_edit_details_saves_and_audits_before_and_after(staff_client, app):  # type: ignore[no-untyped-def]
    contact = make_contact("ana.old@example.org", first_name="Ana", last_name="Torres", town="London")
    db.session.commit()
    response = staff_client.post(f"/staff/members/{contact.id}/details", data=DETAILS)
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Contact, contact.id)
    assert (saved.email, saved.last_name, saved.postcode, saved.country) == (
        "ana.new@example.org",
        "Torres-Gómez",
        "LS1 4AP",
        "GB",
    )
    assert saved.version == 2
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "member.update"))
    assert event.before["town"] == "London" and event.after["town"] == "Leeds"
    assert event.contact_id == contact.id


def test_a_stale_edit_is_refused_and_overwrites_nothing(staff_client, app):  # type: ignore[no-untyped-def]
    contact = make_contact("ana.old@example.org", first_name="Ana", last_name="Torres", town="London")
    db.session.commit()
    # Someone else saves first.
    first = staff_client.post(f"/staff/members/{contact.id}/details", data={**DETAILS, "town": "York"})
    assert first.status_code == 302
    # The second form was opened at version 1.
    second = staff_client.post(f"/staff/members/{contact.id}/details", data={**DETAILS, "town": "Bath"})
    assert second.status_code == 409
    assert "this record changed since you opened it" in second.get_data(as_text=True).lower()
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).town == "York"
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "member.update")) == 1


def test_edit_with_bad_input_changes_nothing(staff_client, app):  # type: ignore[no-untyped-def]
    contact = make_contact("keep@example.org", first_name="Kay")
    make_contact("taken@example.org")
    db.session.commit()
    for bad in (
        {"email": "not-an-email"},
        {"first_name": ""},
        {"email": "taken@example.org"},
        {"country": "GBR"},
        {"version": "x"},
        {"postcode": "x" * 30},
    ):
        response = staff_client.post(f"/staff/members/{contact.id}/details", data={**DETAILS, **bad})
        assert response.status_code in (409, 422), bad
        assert "There is a problem" in response.get_data(as_text=True) or response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email == "keep@example.org"


def test_consent_change_by_staff_is_recorded(staff_client, app):  # type: ignore[no-untyped-def]
    from crm.contacts.models import Consent

    contact = make_contact("consent@example.org", first_name="Con")
    db.session.commit()
    staff_client.post(
        f"/staff/members/{contact.id}/details",
        data={**DETAILS, "email": "consent@example.org", "email_consent": "y"},
    )
    consent = db.session.scalar(select(Consent).where(Consent.contact_id == contact.id))
    assert consent.granted and consent.source == "staff"


def test_add_note(staff_client, staff_user, app):  # type: ignore[no-untyped-def]
    contact = make_contact("noted@example.org")
    db.session.commit()
    assert (
        staff_client.post(f"/staff/members/{contact.id}/notes", data={"note-body": "  "}).status_code == 422
    )
    response = staff_client.post(
        f"/staff/members/{contact.id}/notes",
        data={"note-body": "Called, <b>happy</b>"},
        follow_redirects=True,
    )
    assert "Called, &lt;b&gt;happy&lt;/b&gt;" in response.get_data(as_text=True)
    note = db.session.scalar(select(Note))
    assert note.author_id == staff_user.id
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "member.note"))


def test_staff_answer_a_subject_access_request_with_the_members_own_download_and_it_is_audited(staff_client):
    import csv
    import io
    import json

    ana = make_contact("ana@example.org", first_name="Ana", last_name="Torres")
    seed_story(ana)
    bea = make_contact("bea@example.org", first_name="Bea", last_name="Other")
    db.session.add(Note(contact_id=bea.id, body="Bea's own note"))
    db.session.commit()

    page = staff_client.get(f"/staff/members/{ana.id}").get_data(as_text=True)
    assert f'href="/staff/members/{ana.id}/data.json"' in page

    response = staff_client.get(f"/staff/members/{ana.id}/data.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="contact-{ana.id}-data.json"'
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.data)
    assert data["contact"]["email"] == "ana@example.org"
    assert [p["amount"] for p in data["payments"]] == [3600]
    assert [n["note"] for n in data["staff_notes"]] == ["Phoned about renewal 0"]
    assert "bea@example.org" not in response.get_data(
        as_text=True
    ) and "Bea's own note" not in response.get_data(as_text=True)

    rows = list(
        csv.reader(io.StringIO(staff_client.get(f"/staff/members/{ana.id}/data.csv").get_data(as_text=True)))
    )
    assert rows[0] == ["section", "record", "field", "value"]
    assert ["contact", "", "email", "ana@example.org"] in rows

    audited = db.session.scalars(
        select(AuditEvent.detail).where(
            AuditEvent.action == "export.subject_access", AuditEvent.contact_id == ana.id
        )
    ).all()
    assert sorted(audited) == ["csv", "json"]
    assert staff_client.get("/staff/members/999999/data.json").status_code == 404
    assert staff_client.get(f"/staff/members/{ana.id}/data.xml").status_code == 404
