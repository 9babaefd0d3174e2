"""Consent per purpose from the subscribe form; signed bounce/complaint webhooks; tags on an audience."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

import pytest
from sqlalchemy import select

from crm.audiences import services as audiences
from crm.contacts import consent, tags
from crm.contacts.models import Consent, Contact, Suppression
from crm.email.models import OutboxMessage
from crm.email.services import queue_email
from crm.extensions import db
from tests.fixtures import csrf_token, make_contact

KEY = "mailgun-test-signing-key"


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"MAIL_BACKEND": "memory", "MAILGUN_WEBHOOK_SIGNING_KEY": KEY}


def test_a_subscriber_who_picks_news_not_appeals_gets_news_only_once_confirmed(app, client):
    token = csrf_token(client, "/subscribe")
    page = client.get("/subscribe").get_data(as_text=True)
    assert 'name="consent"' in page and 'name="appeals"' in page and "checked" not in page  # unticked
    client.post(
        "/subscribe",
        data={"csrf_token": token, "first_name": "Sol", "email": "sol@example.org", "consent": "y"},
    )
    contact = db.session.scalar(select(Contact).where(Contact.email == "sol@example.org"))
    assert not consent.has_consent(contact.id, "email", "news")  # not before the emailed link
    from tests.sent_mail import sent_text  # the link lives only in the email as sent

    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "subscribe_confirm"))
    path = re.search(r"http://crm\.test(/subscribe/confirm/\S+)", sent_text(message)).group(1)
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    state = consent.current_state(contact.id)
    assert state[("email", "news")] is True and state[("email", "appeals")] is False
    record = db.session.scalars(select(Consent).where(Consent.contact_id == contact.id)).one()
    assert (record.channel, record.purpose, record.source) == ("email", "news", "subscribe")
    assert "news and campaign updates" in record.wording and record.confirmed_at is not None
    # transactional mail is never gated; marketing for appeals is
    assert queue_email(contact.email, "membership_lapsed", {}, marketing=True, purpose="appeals") is None
    assert queue_email(contact.email, "login_link", {"link": "http://crm.test/x"}) is not None


def _signed(event: dict, *, age: int = 0, key: str = KEY) -> dict:
    timestamp, token = str(int(time.time()) - age), "tok-" + str(time.time_ns())
    sig = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": sig}, "event-data": event}


BOUNCE = {"event": "failed", "severity": "permanent", "recipient": "Gone@Example.org",
          "delivery-status": {"description": "mailbox does not exist"}}  # fmt: skip


def test_a_signed_mailgun_bounce_suppresses_the_address_and_stops_marketing(app, client):
    contact = make_contact("gone@example.org", email_consent=True)
    db.session.commit()
    assert client.post("/email/webhooks/mailgun", json=_signed(BOUNCE)).status_code == 200
    row = db.session.scalars(select(Suppression)).one()
    assert (row.email, row.reason) == ("gone@example.org", "hard_bounce") and "does not exist" in row.detail
    assert queue_email(contact.email, "membership_lapsed", {}, marketing=True) is None
    complaint = {"event": "complained", "recipient": "other@example.org"}
    assert client.post("/email/webhooks/mailgun", json=_signed(complaint)).status_code == 200
    assert consent.is_suppressed("other@example.org")


@pytest.mark.parametrize(
    "payload",
    [
        _signed(BOUNCE, key="wrong-key"),  # forged
        _signed(BOUNCE, age=3600),  # replayed an hour later
        {"event-data": BOUNCE},  # unsigned
        {"signature": "x", "event-data": BOUNCE},
    ],
)
def test_forged_or_replayed_bounce_calls_change_nothing(app, client, payload):
    assert client.post("/email/webhooks/mailgun", json=payload).status_code == 403
    assert db.session.scalars(select(Suppression)).all() == []


def test_a_soft_bounce_suppresses_nobody(app, client):
    soft = {**BOUNCE, "severity": "temporary"}
    assert client.post("/email/webhooks/mailgun", json=_signed(soft)).status_code == 200
    assert not consent.is_suppressed("gone@example.org")


def test_a_forged_unsubscribe_token_changes_nothing(app, client):
    contact = make_contact("keep@example.org", email_consent=True)
    db.session.commit()
    assert (
        client.post(
            f"/email/unsubscribe/{contact.id}/one-click", data={"List-Unsubscribe": "One-Click"}
        ).status_code
        == 404
    )
    assert consent.has_consent(contact.id, "email", "news")


def test_tagging_a_whole_audience_at_once_and_filtering_by_the_tag(app, staff_user):
    for i in range(3):
        make_contact(f"v{i}@example.org", postcode="LS1 4AB")
    make_contact("far@example.org", postcode="M1 1AA")
    audience = audiences.save_audience("Leeds", {"postcode_areas": ["LS"]}, actor=staff_user)
    assert audiences.tag_audience(audience, "Leeds group", actor=staff_user) == 3
    assert audiences.tag_audience(audience, "leeds GROUP", actor=staff_user) == 0  # same tag, nobody twice
    tag = tags.get_or_create("Leeds group")
    tagged = audiences.save_audience("Tagged", {"tag_ids": [tag.id]}, actor=staff_user)
    assert audiences.count(tagged) == 3


@pytest.mark.parametrize(
    "bad",
    [
        {"sql": "1=1"},
        {"status": ["active'; DROP TABLE contact;--"]},
        {"consent": ["email:everything"]},
        {"postcode_areas": ["N1 9GU"]},
        "not a dict",
    ],  # fmt: skip
)
def test_filters_outside_the_allow_list_are_refused(app, staff_user, bad):
    with pytest.raises(audiences.AudienceError):
        audiences.save_audience("Bad", bad, actor=staff_user)


def test_everyone_is_in_the_staff_contact_list_filterable_by_how_they_came(app, staff_client):
    make_contact("sub@example.org", source="subscribe", first_name="Sub", last_name="Scriber")
    make_contact("imp@example.org", source="import", first_name="Imp", last_name="Orted")
    db.session.commit()
    page = staff_client.get("/staff/members?source=subscribe&status=none").get_data(as_text=True)
    assert "sub@example.org" in page or "Scriber" in page
    assert "Orted" not in page


def test_import_maps_news_and_appeals_consent_columns_with_source_import(app, runner, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        "Email,First name,Newsletter,Appeals\nimp1@example.org,Ima,yes,no\nimp2@example.org,Ian,no,yes\n"
    )
    result = runner.invoke(args=["crm", "import-members", str(path)])
    assert result.exit_code == 0, result.output
    one, two = (
        db.session.scalar(select(Contact).where(Contact.email == e))
        for e in ("imp1@example.org", "imp2@example.org")
    )
    assert (
        consent.current_state(one.id)[("email", "news")]
        and not consent.current_state(one.id)[("email", "appeals")]
    )
    assert (
        consent.current_state(two.id)[("email", "appeals")]
        and not consent.current_state(two.id)[("email", "news")]
    )
    assert {c.source for c in db.session.scalars(select(Consent))} == {"import"}
    again = runner.invoke(args=["crm", "import-members", str(path)])
    assert again.exit_code == 0
    assert len(db.session.scalars(select(Consent)).all()) == 2  # the same file twice records nothing new
