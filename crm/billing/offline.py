"""Money received outside Stripe (cheque, transfer, cash): billing records it, the lifecycle
starts or extends the membership it pays for."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from crm.billing.models import OFFLINE_PAYMENT_METHODS, Payment, PaymentKind, PaymentStatus
from crm.billing.services import queue_receipt
from crm.contacts.models import Contact
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Plan


def record_offline_payment(
    contact: Contact,
    plan: Plan,
    *,
    amount: int,
    method: str,
    paid_at: datetime,
    reference: str,
    actor: Any,
) -> Payment:
    """A cheque, transfer or cash payment: starts or extends a membership by one plan period and
    queues the receipt.

    Validation errors raise ValueError with a message for the form, before anything is written.
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("Enter an amount greater than zero.")
    if amount > lifecycle.MAX_OFFLINE_AMOUNT:
        raise ValueError("That amount is too large; check it and try again.")
    if method not in OFFLINE_PAYMENT_METHODS:
        raise ValueError(
            "Choose how the payment was made: " + ", ".join(OFFLINE_PAYMENT_METHODS.values()).lower() + "."
        )
    if paid_at.tzinfo is None:
        raise ValueError("Enter the date the payment was made.")
    if paid_at > utcnow() + timedelta(days=1):
        raise ValueError("The payment date cannot be in the future.")
    reference = (reference or "").strip()
    if len(reference) > 100:
        raise ValueError("The reference must be 100 characters or fewer.")

    membership = lifecycle.extend_for_offline_payment(
        contact,
        plan,
        amount=amount,
        paid_at=paid_at,
        reason=f"{method.replace('_', ' ')} payment recorded by staff",
        actor=actor,
    )
    payment = Payment(
        contact_id=contact.id,
        membership_id=membership.id,
        kind=PaymentKind.MEMBERSHIP,
        amount=amount,
        currency=plan.currency,
        status=PaymentStatus.PAID,
        method=method,
        reference=reference,
        paid_at=paid_at,
        gift_aid_eligible=plan.gift_aid_eligible,
        recorded_by_id=getattr(actor, "id", None),
    )
    db.session.add(payment)
    db.session.flush()
    queue_receipt(payment)
    return payment
