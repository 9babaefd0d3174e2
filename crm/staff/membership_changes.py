"""What staff change on a membership: each action calls the lifecycle and writes one audit row
with the membership before and after; the route commits once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm.audit.services import record
from crm.billing import offline
from crm.billing import stripe_gateway as gateway
from crm.billing.models import Payment
from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Plan
from crm.staff.services import (
    StaffActionError,
    _iso,
    _require_current,
    current_membership,
    membership_snapshot,
    refuse_joint_follower,
)


def record_offline_payment(
    contact: Contact, plan: Plan, *, amount: int, method: str, paid_at: datetime, reference: str, actor: Any
) -> Payment:
    """A cheque, transfer or cash: billing records it and the lifecycle starts or extends the membership."""
    refuse_joint_follower(current_membership(contact))
    before = membership_snapshot(current_membership(contact))
    payment = _lifecycle_call(
        lambda: offline.record_offline_payment(
            contact, plan, amount=amount, method=method, paid_at=paid_at, reference=reference, actor=actor
        )
    )
    db.session.flush()
    record(
        "member.offline_payment",
        target_type="payment",
        target_id=payment.id,
        contact_id=contact.id,
        before={"membership": before},
        after={
            "payment": {"amount": amount, "method": method, "paid_at": _iso(paid_at), "reference": reference},
            "membership": membership_snapshot(current_membership(contact)),
        },
        actor=actor,
    )
    return payment


def _lifecycle_call(change: Any) -> Any:
    """The lifecycle refuses with ValueError (or AlreadyMember): show its message, write nothing."""
    try:
        return change()
    except lifecycle.AlreadyMember as error:
        raise StaffActionError(
            f"This contact is already a member ({error.membership.status}): change or extend that membership."
        ) from error
    except ValueError as error:
        raise StaffActionError(str(error)) from error


def _membership_action(action: str, contact: Contact, change: Any, *, actor: Any, detail: str = "") -> None:
    """Run one lifecycle call and write its one audit row: the membership before and after it."""
    acted_on = current_membership(contact)
    refuse_joint_follower(acted_on)
    before = membership_snapshot(acted_on)
    _lifecycle_call(change)
    db.session.flush()
    # An ended membership is no longer current: its after is still the row that was changed.
    after_membership = current_membership(contact) or acted_on
    record(
        action,
        target_type="membership",
        target_id=after_membership.id if after_membership else "",
        contact_id=contact.id,
        before=before,
        after=membership_snapshot(after_membership),
        detail=detail,
        actor=actor,
    )


def grant_complimentary(contact: Contact, plan: Plan, *, until: datetime | None, actor: Any) -> None:
    _membership_action(
        "member.complimentary",
        contact,
        lambda: lifecycle.grant_complimentary(contact, plan, actor=actor, until=until),
        actor=actor,
        detail=f"plan {plan.name}",
    )


def change_plan(contact: Contact, plan: Plan, *, actor: Any) -> None:
    membership = _require_current(contact)
    if membership.plan_id == plan.id:
        raise StaffActionError("The membership is already on that plan.")
    if membership.stripe_subscription_id:
        if not plan.stripe_price_id or not plan.recurring:
            raise StaffActionError(
                "That plan has no Stripe price for a subscription: choose a recurring plan."
            )
        try:
            gateway.change_subscription_price(
                membership.stripe_subscription_id,
                plan.stripe_price_id,
                idempotency_key=f"staff-plan-{membership.id}-{plan.stripe_price_id}",
            )
        except gateway.GatewayError as error:
            raise StaffActionError(f"Stripe did not change the plan: {error.user_message}") from error
    _membership_action(
        "member.change_plan",
        contact,
        lambda: lifecycle.change_plan(membership, plan, actor=actor),
        actor=actor,
        detail=f"to plan {plan.name}",
    )


def extend_membership(contact: Contact, *, until: datetime, actor: Any) -> None:
    membership = _require_current(contact)
    if membership.paid_through and until <= membership.paid_through:
        raise StaffActionError("Choose a date after the current paid-through date.")
    _membership_action(
        "member.extend",
        contact,
        lambda: lifecycle.extend(membership, until=until, actor=actor),
        actor=actor,
    )


def cancel_membership(contact: Contact, *, at_period_end: bool, reason: str, actor: Any) -> None:
    """Cancel now or at period end; the Stripe subscription first, so a Stripe error changes nothing."""
    membership = _require_current(contact)
    reason = reason or "cancelled by staff"
    if at_period_end and (not membership.auto_renew or membership.cancelled_at is not None):
        raise StaffActionError("This membership already ends at the end of its paid period.")
    if membership.stripe_subscription_id:
        try:
            if at_period_end:
                gateway.set_cancel_at_period_end(
                    membership.stripe_subscription_id,
                    True,
                    idempotency_key=f"staff-cancel-end-{membership.id}-{membership.stripe_subscription_id}",
                )
            else:
                gateway.cancel_subscription_now(
                    membership.stripe_subscription_id,
                    idempotency_key=f"staff-cancel-now-{membership.id}-{membership.stripe_subscription_id}",
                )
        except gateway.GatewayError as error:
            raise StaffActionError(f"Stripe did not cancel the subscription: {error.user_message}") from error
    if at_period_end:
        change = lambda: lifecycle.set_auto_renew(membership, False, actor=actor, reason=reason)  # noqa: E731
        action = "member.cancel_at_period_end"
    else:
        change = lambda: lifecycle.cancel_now(membership, actor=actor, reason=reason)  # noqa: E731
        action = "member.cancel_now"
    _membership_action(action, contact, change, actor=actor, detail=reason)


def change_suspension(contact: Contact, *, suspended: bool, reason: str, actor: Any) -> None:
    """Suspend the current membership (members lose access at once) or lift the suspension."""
    membership = _require_current(contact)
    if suspended:
        action, change, reason = "member.suspend", lifecycle.suspend, reason or "suspended by staff"
    else:
        action, change, reason = (
            "member.unsuspend",
            lifecycle.unsuspend,
            reason or "suspension lifted by staff",
        )
    _membership_action(
        action, contact, lambda: change(membership, actor=actor, reason=reason), actor=actor, detail=reason
    )
