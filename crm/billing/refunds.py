"""Refunds keep their story: who made one and why, whichever records it first, and the member told.

A staff refund puts its reason and the staff member's id in the Stripe refund's metadata, so when
Stripe's `refund.created` webhook commits before the staff request returns, the row it records
already carries them; the staff request then finds that row and keeps (or fills in) the same
story. The member gets one refund email per Stripe refund (dedupe key `refund:<id>`), partial
refunds included.
"""

from __future__ import annotations

from typing import Any

from crm.billing.models import Payment, Refund
from crm.billing.services import field
from crm.contacts.models import Contact
from crm.email.services import queue_email
from crm.extensions import db

#: Longest reason kept (the Refund.reason column; Stripe metadata values allow 500 characters).
REASON_LENGTH = 200


def staff_refund_metadata(payment: Payment, *, reason: str, actor: Any) -> dict[str, str]:
    """What a staff refund tells Stripe, so the webhook can record the refund's story too."""
    metadata = {"payment_id": str(payment.id), "contact_id": str(payment.contact_id)}
    if reason:
        metadata["reason"] = reason[:REASON_LENGTH]
    staff_id = getattr(actor, "id", None)
    if staff_id:
        metadata["staff_user_id"] = str(staff_id)
    return metadata


def story_from_metadata(metadata: Any) -> tuple[str, int | None]:
    """(reason, staff user id) a staff refund put in Stripe's metadata; ("", None) for others."""
    reason = str(field(metadata, "reason") or "")[:REASON_LENGTH]
    try:
        staff_id = int(field(metadata, "staff_user_id") or 0) or None
    except (TypeError, ValueError):
        staff_id = None
    if staff_id is not None:
        from crm.accounts.models import User

        if db.session.get(User, staff_id) is None:
            staff_id = None  # not one of our staff (a shared Stripe account): no author
    return reason, staff_id


def keep_staff_story(refund: Refund, *, reason: str, actor: Any) -> None:
    """The staff request found the refund the webhook recorded first: the staff's story wins."""
    if reason:
        refund.reason = reason[:REASON_LENGTH]
    if refund.created_by_id is None and getattr(actor, "id", None):
        refund.created_by_id = actor.id
    db.session.flush()


def queue_refund_email(refund: Refund) -> Any:
    """Tell the member once per refund what came back and what it was for."""
    payment = db.session.get(Payment, refund.payment_id)
    if payment is None:
        return None
    contact = db.session.get(Contact, payment.contact_id)
    if contact is None or contact.erased_at is not None:
        return None
    return queue_email(
        contact.email,
        "refund",
        {
            "first_name": contact.first_name,
            "amount": refund.amount,
            "currency": payment.currency,
            "what": "donation" if payment.kind == "donation" else "membership payment",
            "paid_amount": payment.amount,
            "paid_at": payment.paid_at,
            "partial": payment.amount_refunded < payment.amount,
        },
        contact_id=contact.id,
        dedupe_key=f"refund:{refund.stripe_refund_id or refund.id}",
    )
