"""Staff-recorded memberships: one paid offline (cheque, transfer, cash) and a free grant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm.contacts.models import Contact
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.lifecycle.explanations import current_membership
from crm.memberships.lifecycle.periods import period_end
from crm.memberships.lifecycle.states import MEMBER_STATUSES, AlreadyMember
from crm.memberships.lifecycle.transitions import _log, activate_from_payment, change_plan
from crm.memberships.models import Membership, MembershipStatus, Plan


def extend_for_offline_payment(
    contact: Contact, plan: Plan, *, amount: int, paid_at: datetime, reason: str, actor: Any
) -> Membership:
    """Money staff recorded (crm.billing.offline checks it and writes the payment): starts the
    contact's membership, or extends it by one plan period with no gap. Returns the membership."""
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
    activate_from_payment(
        membership, period_start=start, paid_through=period_end(plan, start), amount=amount, reason=reason,
        actor=actor,
    )  # fmt: skip
    return membership


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
