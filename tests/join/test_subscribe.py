"""Email updates with double opt-in: a contact, not a member, until they join."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Consent, Contact
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership


def link() -> str:
    """The confirmation link as the subscriber got it (the stored row keeps it only until sent)."""
    from tests.sent_mail import sent_text

    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "subscribe_confirm"))
    match = re.search(r"http://crm\.test(/subscribe/confirm/\S+)", sent_text(message))
    assert match
    return match.group(1)


def test_subscribing_needs_the_emailed_confirmation(client, app):
    page = client.post(
        "/subscribe", data={"first_name": "Sol", "email": "Sol@Example.org", "consent": "y"}
    ).get_data(as_text=True)
    assert "Check your email" in page
    contact = db.session.scalar(select(Contact))
    assert contact.email == "sol@example.org" and not contact.email_consent
    consent = db.session.scalar(select(Consent))
    assert consent.source == "subscribe" and consent.confirmed_at is None and "email" in consent.wording

    path = link()
    assert "Yes, send me updates" in client.get(path).get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.scalar(select(Contact)).email_consent  # opening the link is not enough

    assert "You are signed up" in client.post(path).get_data(as_text=True)
    db.session.expire_all()
    contact = db.session.scalar(select(Contact))
    assert contact.email_consent and contact.email_consent_source == "subscribe"
    assert db.session.scalar(select(Consent)).confirmed_at is not None
    assert db.session.scalar(select(func.count(Membership.id))) == 0
    assert "expired or was already used" in client.post(path).get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"first_name": "", "email": "a@example.org", "consent": "y"}, "Enter your first name."),
        ({"first_name": "A", "email": "bad", "consent": "y"}, "Enter an email address"),
        ({"first_name": "A", "email": "a@example.org"}, "Tick the box"),
    ],
)
def test_subscribe_form_rejects_bad_input(client, app, data, message):
    html = client.post("/subscribe", data=data).get_data(as_text=True)
    assert message in html
    assert db.session.scalar(select(func.count(Contact.id))) == 0


def test_an_optional_postcode_is_kept_so_audiences_by_area_reach_subscribers(client, app):
    client.post(
        "/subscribe",
        data={"first_name": "Sol", "email": "sol@example.org", "postcode": "e17ab", "consent": "y"},
    )
    assert db.session.scalar(select(Contact.postcode)) == "E1 7AB"
    page = client.post(
        "/subscribe",
        data={"first_name": "Ana", "email": "ana@example.org", "postcode": "nowhere", "consent": "y"},
    ).get_data(as_text=True)
    assert "Enter a UK postcode like N1 9GU, or leave it empty." in page
