"""Refunds: recorded once whoever records them first (`record_refund`), with their story, and the
member told.

A staff refund puts its reason and the staff member's id in the Stripe refund's metadata, so when
Stripe's `refund.created` webhook commits before the staff request returns, the row it records
already carries them; the staff request then finds that row and keeps (or fills in) the same
story. The member gets one refund email per Stripe refund (dedupe key `refund:<id>`), partial
refunds included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from crm.billing import donations
from crm.billing.models import Payment, PaymentKind, Refund
from crm.billing.services import apply_refund_total
from crm.billing.stripe_gateway import RefundFacts
from crm.contacts.models import Contact
from crm.core.database import insert_once, locked_for_update
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


@dataclass(frozen=True)
class RecordedRefund:
    refund: Refund
    #: The payment it gave back (a split charge's donation part, or the payment itself).
    payment: Payment
    #: False: this Stripe refund was recorded already (by the other of staff request and webhook).
    created: bool
    #: The payment's refunded total went up.
    total_changed: bool


def record_refund(
    payment: Payment, refund: RefundFacts, *, reason: str = "", actor_id: int | None = None
) -> RecordedRefund:
    """Record one Stripe refund once, whoever gets here first: the staff request that made it,
    its `refund.created` webhook, or reconciliation. The only writer of Refund rows.

    `payment` is the payment refunded or the one holding the charge; the refund's metadata
    picks the donation part of a split charge. The charge's payment row is locked first
    (FOR UPDATE; on SQLite the write lock), so two recorders of the same refund queue and the
    second finds the first one's row. The refunded total is never added to twice: the larger
    of what the payment says and the sum of its recorded refunds. `reason`/`actor_id`: a staff
    refund's story, which wins over what the webhook recorded. Flushes; the caller commits.
    """
    main = locked_for_update(Payment, donations.main_payment_of(payment).id)
    target = donations.refund_target(main, refund.payment_id)
    if target.id != main.id:
        target = locked_for_update(Payment, target.id)
    existing = (
        db.session.scalar(select(Refund).where(Refund.stripe_refund_id == refund.id)) if refund.id else None
    )
    created = False
    if existing is None:
        author = actor_id or _staff_author(refund)
        # A staff refund's reason is what the staff member typed (maybe nothing); another's is
        # Stripe's reason code, if any.
        fallback = "" if author else (refund.stripe_reason or "refunded in Stripe")
        existing = Refund(
            payment_id=target.id,
            amount=refund.amount,
            stripe_refund_id=refund.id or None,
            reason=(reason or refund.staff_reason or fallback)[:REASON_LENGTH],
            created_by_id=author,
        )
        created = insert_once(existing)
        if not created:  # recorded between our look and our insert (only without the lock's help)
            existing = db.session.scalar(select(Refund).where(Refund.stripe_refund_id == refund.id))
            if existing is None:
                raise RuntimeError(f"refund {refund.id}: conflict without a row")
    else:
        _keep_staff_story(existing, reason=reason, actor_id=actor_id)
    recorded_for = db.session.get(Payment, existing.payment_id) or target
    total = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.payment_id == recorded_for.id)
    )
    changed = apply_refund_total(recorded_for, int(total or 0))
    return RecordedRefund(existing, recorded_for, created, changed)


def _staff_author(refund: RefundFacts) -> int | None:
    """The staff member a refund's metadata names, when they are one of ours (a shared Stripe
    account may carry another system's ids)."""
    if refund.staff_user_id is None:
        return None
    from crm.accounts.models import User

    return refund.staff_user_id if db.session.get(User, refund.staff_user_id) is not None else None


def _keep_staff_story(refund: Refund, *, reason: str, actor_id: int | None) -> None:
    """The staff request found the refund the webhook recorded first: the staff's story wins."""
    if reason:
        refund.reason = reason[:REASON_LENGTH]
    if refund.created_by_id is None and actor_id:
        refund.created_by_id = actor_id
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
            "what": "donation" if payment.kind == PaymentKind.DONATION else "membership payment",
            "paid_amount": payment.amount,
            "paid_at": payment.paid_at,
            "partial": payment.amount_refunded < payment.amount,
        },
        contact_id=contact.id,
        dedupe_key=f"refund:{refund.stripe_refund_id or refund.id}",
    )
