"""Staff-recorded memberships: an offline payment (cheque, transfer, cash) and a free grant."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from crm.contacts.models import Contact
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.lifecycle.explanations import current_membership
from crm.memberships.lifecycle.periods import period_end
from crm.memberships.lifecycle.states import MAX_OFFLINE_AMOUNT, MEMBER_STATUSES, AlreadyMember
from crm.memberships.lifecycle.transitions import _log, activate_from_payment, change_plan
from crm.memberships.models import Membership, MembershipStatus, Plan


def record_offline_payment(
    contact: Contact,
    plan: Plan,
    *,
    amount: int,
    method: str,
    paid_at: datetime,
    reference: str,
    actor: Any,
):  # type: ignore[no-untyped-def]  # -> crm.billing.models.Payment
    """A cheque, transfer or cash payment: starts or extends a membership by one plan period.

    Validation errors raise ValueError with a message for the form.
    """
    from crm.billing.models import OFFLINE_PAYMENT_METHODS, Payment, PaymentKind, PaymentStatus
    from crm.billing.services import queue_receipt

    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("Enter an amount greater than zero.")
    if amount > MAX_OFFLINE_AMOUNT:
        raise ValueError("That amount is too large; check it and try again.")
    if method not in OFFLINE_PAYMENT_METHODS:
        raise ValueError("Choose how the payment was made: bank transfer, cheque, cash or other.")
    if paid_at.tzinfo is None:
        raise ValueError("Enter the date the payment was made.")
    if paid_at > utcnow() + timedelta(days=1):
        raise ValueError("The payment date cannot be in the future.")
    reference = (reference or "").strip()
    if len(reference) > 100:
        raise ValueError("The reference must be 100 characters or fewer.")

    membership = current_membership(contact.id)
    if membership is not None:  # concurrent renewals extend one after the other, never from one old end
        from crm.core.database import locked_for_update

        membership = locked_for_update(Membership, membership.id)
    if membership is None:
        membership = Membership(
            contact_id=contact.id, plan_id=plan.id, status=MembershipStatus.PENDING, auto_renew=False
        )
        db.session.add(membership)
        db.session.flush()
        _log(membership, None, "offline payment recorded", actor=actor)
    elif membership.plan_id != plan.id:
        change_plan(membership, plan, actor=actor)

    if (
        membership.status in (MembershipStatus.ACTIVE, MembershipStatus.GRACE, MembershipStatus.SUSPENDED)
        and membership.paid_through is not None
    ):
        start = membership.paid_through  # renew with no gap
    else:
        start = paid_at
    end = period_end(plan, start)
    label = method.replace("_", " ")
    activate_from_payment(
        membership,
        period_start=start,
        paid_through=end,
        amount=amount,
        reason=f"{label} payment recorded by staff",
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


def grant_complimentary(
    contact: Contact, plan: Plan, *, actor: Any, until: datetime | None = None
) -> Membership:
    """A free membership given by staff (none paid through unless `until` is set)."""
    now = utcnow()
    if until is not None and until <= now:
        raise ValueError("The end date must be in the future.")
    membership = current_membership(contact.id)
    if membership is not None and membership.status in MEMBER_STATUSES:
        raise AlreadyMember(membership)
    if membership is None:
        membership = Membership(contact_id=contact.id, plan_id=plan.id, status=MembershipStatus.PENDING)
        db.session.add(membership)
        db.session.flush()
    membership.plan_id = plan.id
    membership.plan = plan
    membership.complimentary = True
    membership.auto_renew = False
    activate_from_payment(
        membership,
        period_start=now,
        paid_through=until,
        amount=None,
        reason="complimentary membership",
        actor=actor,
    )
    return membership
