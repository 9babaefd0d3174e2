"""Receipts that open without an account: a donor has no account, so a receipt email carries a
signed link to that one receipt, and asking for a sign-in link or a password reset with a
donor's email sends the donor their receipt links instead of nothing.

A link shows one receipt and signs no one in; the signature (with its own salt) is what makes a
link impossible to guess from a receipt number.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from crm.billing.models import Payment, PaymentStatus
from crm.contacts.models import Contact
from crm.contacts.services import email_key
from crm.core.types import utcnow
from crm.extensions import db

#: At most this many receipt-link emails per contact per hour (someone else may type the address).
LINK_EMAILS_PER_HOUR = 3
#: The most recent payments listed in one email.
LINKS_PER_EMAIL = 20
_LARGEST_ID = 2**63 - 1


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="crm.receipt-link")


def receipt_url(payment: Payment) -> str:
    token = _serializer().dumps({"p": payment.id})
    return f"{current_app.config['BASE_URL']}/account/receipts/view/{token}"


def payment_from_token(token: str) -> Payment | None:
    """The payment a receipt link names; None for a forged or damaged link."""
    try:
        data = _serializer().loads(token)
        payment_id = int(data["p"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    if not 0 < payment_id <= _LARGEST_ID:
        return None
    return db.session.get(Payment, payment_id)


def email_receipt_links(email: str) -> None:
    """For a supporter without an account: email links to their receipts (nothing if none)."""
    from crm.email.models import OutboxMessage
    from crm.email.services import queue_email

    contact = db.session.scalar(select(Contact).where(Contact.email == email_key(email)))
    if contact is None or contact.user is not None or contact.erased_at is not None:
        return
    payments = list(
        db.session.scalars(
            select(Payment)
            .where(Payment.contact_id == contact.id, Payment.status != PaymentStatus.FAILED)
            .order_by(Payment.id.desc())
            .limit(LINKS_PER_EMAIL)
        )
    )
    if not payments:
        return
    sent = db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.contact_id == contact.id,
            OutboxMessage.kind == "receipt_links",
            OutboxMessage.created_at >= utcnow() - timedelta(hours=1),
        )
    )
    if (sent or 0) >= LINK_EMAILS_PER_HOUR:
        return
    queue_email(
        contact.email,
        "receipt_links",
        {"first_name": contact.first_name, "receipts": [(p, receipt_url(p)) for p in payments]},
        contact_id=contact.id,
    )
