"""Payments that recover: the one-click way back to Stripe to fix a card or bank account.

A failed-payment email carries a signed link (no sign-in: the member may not remember their
password, and every day of a failing card is a day nearer a lapse). The link names the contact
and expires after UPDATE_LINK_DAYS; following it opens a fresh Stripe billing portal session,
since portal sessions themselves are short-lived. Emails are sent once per failure (dedupe key
`payment_failed:<invoice>`), however often Stripe redelivers.

The daily run (`crm daily`) also warns a member whose card runs out before their next charge
(it expires this month or next, for a charge within CARD_CHECK_DAYS): once per membership, card and charge date (dedupe key). It asks Stripe
for the card of each auto-renewing membership charged within CARD_CHECK_DAYS (one call each, a
notice already queued skips the call): enough to warn every member in time before a charge.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from crm.billing import stripe_gateway as gateway
from crm.contacts.models import Contact
from crm.email.models import OutboxMessage
from crm.email.services import queue_email
from crm.extensions import db
from crm.memberships.models import Membership, MembershipStatus

log = logging.getLogger("crm.billing.dunning")

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


#: How far ahead of the next charge the daily run checks the card it will use.
CARD_CHECK_DAYS = 45


def _card_runs_out(expiry: gateway.CardExpiry) -> datetime:
    """The first moment the card no longer works: the start of the month after its expiry month."""
    year, month = (expiry.year + 1, 1) if expiry.month == 12 else (expiry.year, expiry.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def queue_card_expiry_notices(now: datetime) -> int:
    """Queue "your card expires before your next payment" for members charged after their card
    runs out; the caller commits. Idempotent: a second run the same month queues nothing more."""
    rows = db.session.execute(
        select(Membership.id, Membership.stripe_subscription_id, Membership.paid_through, Contact)
        .join(Contact, Contact.id == Membership.contact_id)
        .where(
            Membership.status == MembershipStatus.ACTIVE,
            Membership.auto_renew.is_(True),
            Membership.stripe_subscription_id.is_not(None),
            Membership.paid_through > now,
            Membership.paid_through <= now + timedelta(days=CARD_CHECK_DAYS),
            Contact.erased_at.is_(None),
        )
    ).all()
    queued = 0
    for membership_id, sub_id, paid_through, contact in rows:
        key = f"card_expiring:{membership_id}:{paid_through:%Y%m%d}"
        if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)) is not None:
            continue
        try:
            expiry = gateway.default_card_expiry(str(sub_id))
        except gateway.GatewayError as error:
            log.warning("card expiry of membership %s: %s", membership_id, error)
            continue
        assert paid_through is not None  # the query asks for paid_through > now
        if expiry is None or paid_through < _card_runs_out(expiry):
            continue  # a bank account, or a card that still works on the charge date
        message = queue_email(
            contact.email,
            "card_expiring",
            {
                "first_name": contact.first_name,
                "last4": expiry.last4,
                "expiry": f"{expiry.month:02d}/{expiry.year}",
                "next_charge": paid_through,
                "update_url": update_details_url(contact),
            },
            contact_id=contact.id,
            dedupe_key=key,
        )
        queued += 1 if message is not None else 0
    return queued


def queue_payment_failed_email(
    membership: Membership, *, amount: int, currency: str, failure_key: str
) -> None:
    """Tell the member once per failed invoice (`failure_key`), with the way to update their card
    or bank details: the webhook's failed renewal and a returned Direct Debit share the key."""
    contact = membership.contact
    if contact.erased_at is not None:
        return
    queue_email(
        contact.email,
        "payment_failed",
        {
            "first_name": contact.first_name,
            "plan_name": membership.plan.name,
            "plan_name_es": membership.plan.name_es,
            "amount": amount,
            "currency": currency,
            "grace_until": membership.grace_until,
            "update_url": update_details_url(contact) if contact.stripe_customer_id else None,
        },
        contact_id=contact.id,
        dedupe_key=f"payment_failed:{failure_key}",
    )
