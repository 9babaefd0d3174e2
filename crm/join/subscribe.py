"""Email updates with double opt-in: the consent counts only once the emailed link is confirmed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from flask import current_app

from crm.accounts import tokens
from crm.contacts import consent
from crm.contacts.models import Contact
from crm.contacts.sources import ContactSource
from crm.email.services import queue_email
from crm.extensions import db
from crm.i18n import current_language
from crm.join.services import find_or_create_contact

CONFIRM_SUBSCRIPTION = "confirm_subscription"
CONFIRM_TTL = timedelta(days=7)


def request_subscription(
    email: str, first_name: str, last_name: str, *, purposes: Sequence[str] = ("news",), postcode: str = ""
) -> None:
    """Record the (unconfirmed) consent for each chosen purpose and email a confirmation link.
    The page says the same whether or not the email was known or already subscribed, so it
    reveals nothing."""
    contact = find_or_create_contact(
        email,
        {"first_name": first_name, "last_name": last_name, "postcode": postcode},
        source=ContactSource.SUBSCRIBE,
    )
    wanted = [p for p in purposes if not consent.has_consent(contact.id, "email", p)]
    if not wanted or contact.erased_at is not None:
        return
    org = current_app.config["ORG_NAME"]
    consent.record_choices(contact, {("email", p): True for p in wanted}, source="subscribe", org=org,
                           confirmed=False, language=current_language())  # fmt: skip
    raw = tokens.issue_token(CONFIRM_SUBSCRIPTION, contact=contact, ttl=CONFIRM_TTL)
    queue_email(
        contact.email,
        "subscribe_confirm",
        {
            "first_name": contact.first_name,
            "confirm_url": f"{current_app.config['BASE_URL']}/subscribe/confirm/{raw}",
        },
        contact_id=contact.id,
        one_time_link="confirm_url",  # kept only until sent, never shown to staff
    )
    db.session.flush()


def token_is_valid(raw: str) -> bool:
    return tokens.find_token(CONFIRM_SUBSCRIPTION, raw) is not None


def confirm_subscription(raw: str) -> bool:
    """Use the token once: the unconfirmed consents from the subscribe form count from now."""
    token = tokens.consume_token(CONFIRM_SUBSCRIPTION, raw)
    if token is None or token.contact_id is None:
        return False
    contact = db.session.get(Contact, token.contact_id)
    if contact is None:
        return False
    consent.confirm_pending(contact, "subscribe")
    return True
