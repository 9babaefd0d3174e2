"""Email updates with double opt-in: the consent counts only once the emailed link is confirmed."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from crm.accounts import tokens
from crm.contacts.models import Consent, Contact
from crm.core.types import utcnow
from crm.email.services import queue_email
from crm.extensions import db
from crm.join.forms import email_updates_wording
from crm.join.services import find_or_create_contact

CONFIRM_SUBSCRIPTION = "confirm_subscription"
CONFIRM_TTL = timedelta(days=7)


def request_subscription(email: str, first_name: str, last_name: str) -> None:
    """Record the (unconfirmed) consent and email a confirmation link. The page says the same
    whether or not the email was known or already subscribed, so it reveals nothing."""
    contact = find_or_create_contact(
        email, {"first_name": first_name, "last_name": last_name}, source="subscribe"
    )
    if contact.email_consent or contact.erased_at is not None:
        return
    db.session.add(
        Consent(
            contact_id=contact.id,
            kind="email_updates",
            granted=True,
            wording=email_updates_wording(current_app.config["ORG_NAME"]),
            source="subscribe",
        )
    )
    raw = tokens.issue_token(CONFIRM_SUBSCRIPTION, contact=contact, ttl=CONFIRM_TTL)
    queue_email(
        contact.email,
        "subscribe_confirm",
        {
            "first_name": contact.first_name,
            "confirm_url": f"{current_app.config['BASE_URL']}/subscribe/confirm/{raw}",
        },
        contact_id=contact.id,
    )
    db.session.flush()


def token_is_valid(raw: str) -> bool:
    return tokens.find_token(CONFIRM_SUBSCRIPTION, raw) is not None


def confirm_subscription(raw: str) -> bool:
    """Use the token once: the latest unconfirmed consent counts from now."""
    token = tokens.consume_token(CONFIRM_SUBSCRIPTION, raw)
    if token is None or token.contact_id is None:
        return False
    contact = db.session.get(Contact, token.contact_id)
    if contact is None:
        return False
    now = utcnow()
    consent = db.session.scalar(
        select(Consent)
        .where(
            Consent.contact_id == contact.id,
            Consent.kind == "email_updates",
            Consent.source == "subscribe",
            Consent.confirmed_at.is_(None),
        )
        .order_by(Consent.id.desc())
        .limit(1)
    )
    if consent is not None:
        consent.confirmed_at = now
    contact.email_consent = True
    contact.email_consent_at = now
    contact.email_consent_source = "subscribe"
    db.session.flush()
    return True
