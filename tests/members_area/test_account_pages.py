"""The account page, receipts and contact details, as each kind of visitor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.accounts.models import User
from crm.audit.models import AuditEvent
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.core.types import utcnow
from crm.email.models import OutboxMessage
from crm.extensions import db
from tests.fixtures import csrf_token, make_user
from tests.members_area.factories import make_payment, sign_in

ACCOUNT_PAGES = [
    "/account",
    "/account/details",
    "/account/email-preferences",
    "/account/gift-aid",
    "/account/forget",
    "/account/renew",
    "/account/data.json",
    "/account/data.csv",
]


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ACCOUNT_PAGES + ["/account/payments/1/receipt", "/account/auto-renew/cancel"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/login" in response.headers["Location"], path


@pytest.mark.parametrize("who", ["active_member", "lapsed_member", "staff"])
def test_every_account_page_works_for_members_and_staff(client, request, who):
    user = make_user("staff@example.org", "staff") if who == "staff" else request.getfixturevalue(who)
    sign_in(client, user)
    for path in ACCOUNT_PAGES:
        response = client.get(path)
        if path == "/account/renew":
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/join")
        else:
            assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_membership_card_shows_plan_status_dates_and_number(client, active_member):
    sign_in(client, active_member)
    html = client.get("/account").get_data(as_text=True)
    contact = active_member.contact
    assert "Standard Yearly" in html
    assert "badge-active" in html
    assert "Member since" in html
    assert "Renews on" in html
    assert contact.member_number in html
    assert "Auto-renewal</dt><dd>On" in html
    assert "paid by card" in html  # why they are in this state
    assert "Manage card and auto-renewal" in html
    assert "Cancel auto-renewal" in html


def test_lapsed_member_sees_status_and_renew_button(client, lapsed_member):
    sign_in(client, lapsed_member)
    html = client.get("/account").get_data(as_text=True)
    assert "badge-lapsed" in html
    assert "Expired on" in html
    assert "Renew your membership" in html
    assert "grace period ended without payment" in html
    assert client.get("/account/renew").headers["Location"] == "/join?plan=standard-yearly"


def test_payment_history_and_printable_receipt(client, active_member):
    payment = make_payment(active_member.contact, 3600, gift_aid_eligible=True)
    db.session.add(
        GiftAidDeclaration(
            contact_id=active_member.contact_id,
            wording="HMRC",
            source="join",
            valid_from=utcnow() - timedelta(days=365),
        )
    )
    db.session.commit()
    sign_in(client, active_member)
    assert "£36.00" in client.get("/account").get_data(as_text=True)
    receipt = client.get(f"/account/payments/{payment.id}/receipt")
    html = receipt.get_data(as_text=True)
    assert receipt.status_code == 200
    assert "Serranía Solidarity Network UK" in html
    assert "Registered charity number" in html
    assert "£36.00" in html and "Card" in html
    assert "Covered by your Gift Aid declaration" in html


def test_member_cannot_read_another_members_receipt(client, active_member, other_member):
    theirs = make_payment(other_member.contact, 9900)
    db.session.commit()
    sign_in(client, active_member)
    assert client.get(f"/account/payments/{theirs.id}/receipt").status_code == 404
    assert client.get("/account/payments/999999/receipt").status_code == 404
    assert client.get(f"/account/payments/{2**63}/receipt").status_code == 404  # not a 500
    assert "£99.00" not in client.get("/account").get_data(as_text=True)


def _details(client, **changes):  # type: ignore[no-untyped-def]
    contact = db.session.scalar(select(Contact).where(Contact.email == "ana@example.org"))
    data = {
        "csrf_token": csrf_token(client, "/account/details"),
        "title": "Ms",
        "first_name": "Ana",
        "last_name": "Torres",
        "email": "ana@example.org",
        "address_line1": "2 New Road",
        "address_line2": "",
        "town": "Leeds",
        "postcode": "LS1 4AP",
        "phone": "",
        "version": str(contact.version),
    }
    data.update(changes)
    return client.post("/account/details", data=data)


def test_edit_contact_details_saves_and_audits_field_names(client, active_member):
    sign_in(client, active_member)
    response = _details(client)
    assert response.status_code == 302
    db.session.expire_all()
    contact = db.session.get(Contact, active_member.contact_id)
    assert (contact.address_line1, contact.town, contact.postcode, contact.title) == (
        "2 New Road",
        "Leeds",
        "LS1 4AP",
        "Ms",
    )
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "member.self_update"))
    assert audit is not None and "2 New Road" not in str(audit.after)


def test_details_form_has_country_like_the_join_form(client, active_member):
    sign_in(client, active_member)
    assert 'name="country"' in client.get("/account/details").get_data(as_text=True)
    assert _details(client, country="IE", postcode="D02 X285").status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, active_member.contact_id).country == "IE"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"first_name": ""}, "Enter your first name."),
        ({"last_name": "x" * 101}, "Last name must be 100 characters or fewer."),
        ({"email": "not-an-email"}, "Enter an email address like name@example.org"),
        ({"address_line1": ""}, "Enter the first line of your address."),
        ({"phone": "<script>"}, "Enter a phone number"),
    ],
)
def test_bad_details_are_refused_with_a_message_and_kept(client, active_member, changes, message):
    sign_in(client, active_member)
    response = _details(client, **changes)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html
    assert "There is a problem" in html
    assert "Leeds" in html  # what they typed is kept
    db.session.expire_all()
    assert db.session.get(Contact, active_member.contact_id).town == "London"


def test_gift_aid_declarers_need_a_real_uk_postcode(client, active_member):
    db.session.add(GiftAidDeclaration(contact_id=active_member.contact_id, wording="HMRC", source="join"))
    db.session.commit()
    sign_in(client, active_member)
    response = _details(client, postcode="12345")
    assert response.status_code == 400
    assert "Enter a real UK postcode" in response.get_data(as_text=True)


def test_mass_assignment_is_ignored(client, active_member):
    sign_in(client, active_member)
    response = _details(
        client,
        role="admin",
        is_staff="1",
        status="active",
        amount="1",
        member_number="X1",
        email_consent="y",
        erased_at="2020-01-01",
        stripe_customer_id="cus_evil",
    )
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, active_member.id)
    assert user.role == "member"
    contact = user.contact
    assert contact.member_number != "X1"
    assert contact.stripe_customer_id == "cus_ana"
    assert contact.email_consent is False and contact.erased_at is None


def test_stale_version_shows_record_changed_and_changes_nothing(client, active_member):
    sign_in(client, active_member)
    token = csrf_token(client, "/account/details")
    contact = db.session.get(Contact, active_member.contact_id)
    old_version = contact.version
    contact.town = "Manchester"  # staff saved in between
    db.session.commit()
    response = client.post(
        "/account/details",
        data={
            "csrf_token": token,
            "first_name": "Ana",
            "last_name": "Torres",
            "email": "ana@example.org",
            "address_line1": "2 New Road",
            "town": "Leeds",
            "postcode": "LS1 4AP",
            "version": str(old_version),
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "This record changed" in html
    assert "Manchester" in html  # the latest details are shown
    db.session.expire_all()
    contact = db.session.get(Contact, active_member.contact_id)
    assert (contact.town, contact.address_line1) == ("Manchester", "1 High Street")


def test_changing_email_needs_a_fresh_sign_in(client, active_member):
    sign_in(client, active_member)
    token = csrf_token(client, "/account/details")
    with client.session_transaction() as session:
        session["_fresh"] = False
    response = _details(client, email="new@example.org", csrf_token=token)
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
    db.session.expire_all()
    assert db.session.get(Contact, active_member.contact_id).email == "ana@example.org"


def test_changing_email_with_a_fresh_session_must_stay_unique(client, active_member, other_member):
    sign_in(client, active_member)
    response = _details(client, email="BEA@example.org")
    assert response.status_code == 400
    assert "belongs to another account" in response.get_data(as_text=True)
    response = _details(client, email="Ana.New@Example.org")
    assert response.status_code == 302
    db.session.expire_all()
    # The change waits for the new address to confirm (tests/security/test_email_change.py).
    assert db.session.get(Contact, active_member.contact_id).email == "ana@example.org"
    confirm = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "email_change_confirm")
    ).all()
    assert [m.to_email for m in confirm] == ["ana.new@example.org"]


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Renew your membership"), ("es", "Renueva tu afiliación")]
)
def test_a_lapsed_member_renewing_sees_a_renewal_page_not_become_a_member(
    client, lapsed_member, language, heading
):
    sign_in(client, lapsed_member)
    client.get(f"/language/{language}")
    page = client.get("/account/renew", follow_redirects=True).get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in page
    assert f"<title>{heading}" in page


def test_a_visitor_at_the_join_form_is_asked_to_become_a_member(client):
    assert "<h1>Become a member</h1>" in client.get("/join").get_data(as_text=True)
