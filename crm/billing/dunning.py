"""Payments that recover: the one-click way back to Stripe to fix a card or bank account.

A failed-payment email carries a signed link (no sign-in: the member may not remember their
password, and every day of a failing card is a day nearer a lapse). The link names the contact
and expires after UPDATE_LINK_DAYS; following it opens a fresh Stripe billing portal session,
since portal sessions themselves are short-lived. Emails are sent once per failure (dedupe key
`payment_failed:<invoice>`), however often Stripe redelivers.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from crm.billing import stripe_gateway as gateway
from crm.contacts.models import Contact
from crm.extensions import db

_SALT = "crm.billing.update-payment-details"
#: How long the link in a failed-payment email works (Stripe retries for about three weeks).
UPDATE_LINK_DAYS = 21


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def update_details_url(contact: Contact) -> str:
    """The link in a failed-payment email: opens the Stripe billing portal for this contact."""
    token = _serializer().dumps({"c": contact.id})
    return f"{current_app.config['BASE_URL']}/billing/update-payment-details/{token}"


def contact_for_update_token(token: str) -> Contact | None:
    """The contact a link names, or None for a forged, expired or unknown one (or an erased contact)."""
    try:
        data = _serializer().loads(token, max_age=UPDATE_LINK_DAYS * 86400)
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        return None
    contact = db.session.get(Contact, data["c"])
    if contact is None or contact.erased_at is not None or not contact.stripe_customer_id:
        return None
    return contact


def portal_url_for(contact: Contact) -> str:
    """A fresh billing portal session (GatewayError when Stripe fails), returning to the account page."""
    assert contact.stripe_customer_id  # noqa: S101  (contact_for_update_token checked it)
    return gateway.create_portal_session(
        contact.stripe_customer_id, return_url=f"{current_app.config['BASE_URL']}/account"
    )
