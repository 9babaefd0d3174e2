"""The signed unsubscribe link: opening it changes nothing; the button (or one-click POST) does."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.contacts.models import Consent, Contact
from crm.email.services import queue_email, unsubscribe_url
from crm.extensions import db
from tests.fixtures import csrf_token, make_contact


@pytest.fixture
def subscriber(email_routes):  # type: ignore[no-untyped-def]
    contact = make_contact("sub@example.org", email_consent=True)
    db.session.commit()
    return contact


def _path(contact: Contact) -> str:
    url = unsubscribe_url(contact)
    assert url.startswith("http://crm.test/email/unsubscribe/")
    return url.removeprefix("http://crm.test")


def _consent(contact_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(Contact, contact_id).email_consent


def test_opening_the_link_shows_a_button_and_changes_nothing(client, subscriber):
    page = client.get(_path(subscriber))
    assert page.status_code == 200
    assert "Unsubscribe" in page.get_data(as_text=True)
    assert _consent(subscriber.id) is True


def test_pressing_the_button_withdraws_consent_and_is_recorded(client, subscriber):
    path = _path(subscriber)
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.get_data(as_text=True)
    assert _consent(subscriber.id) is False
    consent = db.session.scalars(
        select(Consent).where(Consent.contact_id == subscriber.id, Consent.granted.is_(False))
    ).one()
    assert consent.source == "unsubscribe_link" and (consent.channel, consent.purpose) == ("email", "news")
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "email.unsubscribe")).one()
    # and news is no longer queued for them
    assert queue_email(subscriber.email, "membership_lapsed", {}, marketing=True) is None


def test_post_without_csrf_token_changes_nothing(client, subscriber):
    response = client.post(_path(subscriber), data={})
    assert response.status_code in (200, 400)
    assert _consent(subscriber.id) is True


def test_one_click_unsubscribe_from_the_mail_client(client, subscriber):
    response = client.post(_path(subscriber) + "/one-click", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 204
    assert _consent(subscriber.id) is False


@pytest.mark.parametrize("token", ["nonsense", "eyJjIjoxfQ.forged-signature", "eyJjIjo5OTl9"])
def test_forged_or_damaged_token_is_not_found(client, subscriber, token):
    assert client.get(f"/email/unsubscribe/{token}").status_code == 404
    assert client.post(
        f"/email/unsubscribe/{token}/one-click", data={"List-Unsubscribe": "One-Click"}
    ).status_code in (
        400,
        404,
    )
    assert _consent(subscriber.id) is True
