"""Email preferences (recorded consents) and Gift Aid declarations from the account."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.contacts.models import Consent, Contact, GiftAidDeclaration
from crm.extensions import db
from tests.fixtures import csrf_token
from tests.members_area.factories import sign_in


def test_turning_email_updates_on_and_off_records_each_consent(client, active_member):
    sign_in(client, active_member)
    token = csrf_token(client, "/account/email-preferences")
    assert (
        client.post(
            "/account/email-preferences", data={"csrf_token": token, "email_updates": "y"}
        ).status_code
        == 302
    )
    assert client.post("/account/email-preferences", data={"csrf_token": token}).status_code == 302
    consents = db.session.scalars(
        select(Consent).where(Consent.contact_id == active_member.contact_id).order_by(Consent.id)
    ).all()
    assert [c.granted for c in consents] == [True, False]
    assert all(c.source == "account" and "email me news" in c.wording and c.created_at for c in consents)
    db.session.expire_all()
    assert db.session.get(Contact, active_member.contact_id).email_consent is False


def test_saving_the_same_preference_records_nothing(client, active_member):
    sign_in(client, active_member)
    token = csrf_token(client, "/account/email-preferences")
    client.post("/account/email-preferences", data={"csrf_token": token})
    assert db.session.scalar(select(func.count(Consent.id))) == 0


def test_make_and_cancel_a_gift_aid_declaration(client, active_member):
    sign_in(client, active_member)
    page = client.get("/account/gift-aid").get_data(as_text=True)
    assert "I am a UK taxpayer" in page
    token = csrf_token(client, "/account/gift-aid")
    response = client.post(
        "/account/gift-aid", data={"csrf_token": token, "house": "1", "postcode": "n19gu", "confirm": "y"}
    )
    assert response.status_code == 302
    declaration = db.session.scalar(select(GiftAidDeclaration))
    assert declaration.postcode == "N1 9GU" and declaration.source == "account"
    assert "I am a UK taxpayer" in declaration.wording
    assert declaration.cancelled_at is None
    response = client.post(
        "/account/gift-aid/cancel", data={"csrf_token": token, "declaration_id": declaration.id}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(GiftAidDeclaration, declaration.id).cancelled_at is not None
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["gift_aid.declared", "gift_aid.cancelled"]


def test_gift_aid_needs_confirmation_and_a_uk_postcode(client, active_member):
    sign_in(client, active_member)
    token = csrf_token(client, "/account/gift-aid")
    response = client.post("/account/gift-aid", data={"csrf_token": token, "house": "1", "postcode": "75001"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter a real UK postcode" in html
    assert "Tick the box" in html
    assert db.session.scalar(select(func.count(GiftAidDeclaration.id))) == 0


def test_member_cannot_cancel_another_members_declaration(client, active_member, other_member):
    theirs = GiftAidDeclaration(contact_id=other_member.contact_id, wording="HMRC", source="join")
    db.session.add(theirs)
    db.session.commit()
    sign_in(client, active_member)
    token = csrf_token(client, "/account/gift-aid")
    response = client.post(
        "/account/gift-aid/cancel", data={"csrf_token": token, "declaration_id": theirs.id}
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(GiftAidDeclaration, theirs.id).cancelled_at is None


def test_my_email_preferences_change_each_channel_and_purpose_in_plain_words(client, active_member):
    from crm.contacts import consent

    sign_in(client, active_member)
    token = csrf_token(client, "/account/email-preferences")
    page = client.get("/account/email-preferences").get_data(as_text=True)
    assert "My email preferences" in page and "Text messages (SMS)" in page and "fundraising appeals" in page
    client.post(
        "/account/email-preferences", data={"csrf_token": token, "email_appeals": "y", "post_news": "y"}
    )
    state = consent.current_state(active_member.contact_id)
    assert state[("email", "appeals")] and state[("post", "news")] and not state[("email", "news")]
    records = db.session.scalars(select(Consent).where(Consent.contact_id == active_member.contact_id)).all()
    assert {(c.channel, c.purpose, c.granted, c.source) for c in records} == {
        ("email", "appeals", True, "account"),
        ("post", "news", True, "account"),
    }
    client.post(
        "/account/email-preferences", data={"csrf_token": token, "post_news": "y"}
    )  # appeals by email withdrawn
    assert not consent.current_state(active_member.contact_id)[("email", "appeals")]
    assert (
        len(db.session.scalars(select(Consent).where(Consent.contact_id == active_member.contact_id)).all())
        == 3
    )
