"""The lifecycle's transitions: every change between statuses, each writing one MembershipEvent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.core.database import insert_once
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.lifecycle import joint
from crm.memberships.lifecycle.explanations import current_membership
from crm.memberships.lifecycle.facts import refresh_membership_status
from crm.memberships.lifecycle.hooks import run_first_activation_hooks
from crm.memberships.lifecycle.numbers import assign_member_number
from crm.memberships.lifecycle.periods import grace_days
from crm.memberships.lifecycle.states import MEMBER_STATUSES, RESTARTABLE_STATUSES, AlreadyMember
from crm.memberships.models import Membership, MembershipEvent, MembershipStatus, Plan


def _log(
    membership: Membership,
    from_status: str | None,
    reason: str,
    *,
    actor: Any = None,
    stripe_event_id: str | None = None,
    amount: int | None = None,
) -> MembershipEvent:
    event = MembershipEvent(
        membership_id=membership.id,
        from_status=from_status,
        to_status=membership.status,
        reason=reason[:200],
        actor_user_id=getattr(actor, "id", None),
        stripe_event_id=stripe_event_id,
        amount=amount,
        paid_through=membership.paid_through,
    )
    db.session.add(event)
    refresh_membership_status(contact_ids=[membership.contact_id])
    joint.follow(membership, reason, stripe_event_id=stripe_event_id)
    return event


def _original_joined_at(contact_id: int, exclude_id: int | None = None) -> datetime | None:
    query = select(func.min(Membership.joined_at)).where(Membership.contact_id == contact_id)
    if exclude_id is not None:
        query = query.where(Membership.id != exclude_id)
    return db.session.scalar(query)


def _on_first_activation(membership: Membership) -> None:
    """A new member: a membership number, then what other domains registered (accounts opens the
    account and sends the welcome email when the account is new); on a joint plan the second
    adult's own row is opened and gets the same, once."""
    assign_member_number(membership.contact)
    run_first_activation_hooks(membership)
    follower = joint.open_for_partner(membership)
    if follower is not None:
        assign_member_number(follower.contact)
        run_first_activation_hooks(follower)


# --- starting ----------------------------------------------------------------------------------


def start_pending(contact: Contact, plan: Plan, *, auto_renew: bool) -> Membership:
    """The contact's pending membership for a checkout: reused when one exists (one per contact).

    Raises AlreadyMember when the contact is active, in grace or suspended.
    """
    now = utcnow()
    expires = now + timedelta(hours=int(current_app.config["PENDING_EXPIRY_HOURS"]))
    for _attempt in range(2):
        current = current_membership(contact.id)
        if current is not None and current.status in MEMBER_STATUSES:
            raise AlreadyMember(current)
        if current is not None:  # pending: reuse it
            if current.plan_id != plan.id or current.auto_renew != auto_renew:
                current.plan_id = plan.id
                current.plan = plan
                current.auto_renew = auto_renew
                current.stripe_checkout_session_id = None
                current.checkout_url = None
            current.pending_expires_at = expires
            db.session.flush()
            return current
        membership = Membership(
            contact_id=contact.id,
            plan_id=plan.id,
            status=MembershipStatus.PENDING,
            auto_renew=auto_renew,
            joined_at=None,
            pending_expires_at=expires,
        )
        if not insert_once(membership):  # a concurrent request made one first: use theirs
            continue
        _log(membership, None, "checkout started")
        return membership
    raise RuntimeError("could not start a pending membership")  # pragma: no cover


def _supersede_other_current(membership: Membership) -> None:
    """Before reactivating an old row: a newer pending attempt gives way; a real member does not."""
    other = current_membership(membership.contact_id)
    if other is None or other.id == membership.id:
        return
    if other.status == MembershipStatus.PENDING:
        other.status = MembershipStatus.EXPIRED
        other.ended_at = utcnow()
        db.session.flush()
        _log(other, MembershipStatus.PENDING, "superseded by a payment for an earlier checkout")
        return
    raise AlreadyMember(other)


def activate_from_payment(
    membership: Membership,
    *,
    period_start: datetime,
    paid_through: datetime | None,
    amount: int | None,
    reason: str,
    stripe_event_id: str | None = None,
    actor: Any = None,
) -> None:
    """A payment (or grant) for this membership.

    pending/lapsed/cancelled/expired -> active with a new period (joined_at set once);
    active/grace -> paid_through extended with no gap, never moved backwards (a replay or an
    older event is a no-op); suspended stays suspended (paid_through still extended).
    """
    before = membership.status
    if before in RESTARTABLE_STATUSES:
        _supersede_other_current(membership)
        if membership.joined_at is None:
            membership.joined_at = _original_joined_at(membership.contact_id, membership.id) or period_start
        membership.status = MembershipStatus.ACTIVE
        membership.current_period_start = period_start
        membership.paid_through = paid_through
        membership.grace_until = None
        membership.pending_expires_at = None
        membership.cancelled_at = None
        membership.ended_at = None
        db.session.flush()
        _log(membership, before, reason, actor=actor, stripe_event_id=stripe_event_id, amount=amount)
        _on_first_activation(membership)
        return

    if before in (MembershipStatus.ACTIVE, MembershipStatus.GRACE, MembershipStatus.SUSPENDED):
        if membership.paid_through is None:
            # Life or complimentary without end: nothing to extend; a payment is still noted.
            if paid_through is not None or before == MembershipStatus.SUSPENDED:
                return
            _log(membership, before, reason, actor=actor, stripe_event_id=stripe_event_id, amount=amount)
            return
        if paid_through is not None and paid_through <= membership.paid_through:
            return  # a replay or an older event: never move backwards
        membership.paid_through = paid_through
        if membership.current_period_start is None or period_start > membership.current_period_start:
            membership.current_period_start = period_start
        if before == MembershipStatus.GRACE:
            membership.status = MembershipStatus.ACTIVE
            membership.grace_until = None
        db.session.flush()
        _log(membership, before, reason, actor=actor, stripe_event_id=stripe_event_id, amount=amount)
        return
    raise ValueError(f"cannot activate a {before} membership")  # pragma: no cover


# --- staff and member changes ------------------------------------------------------------------


def change_plan(membership: Membership, plan: Plan, *, actor: Any) -> None:
    """Local record only; the caller changes the Stripe subscription's price first."""
    if membership.plan_id == plan.id:
        return
    old = db.session.get(Plan, membership.plan_id)
    membership.plan_id = plan.id
    membership.plan = plan
    db.session.flush()
    _log(
        membership,
        membership.status,
        f"plan changed from {old.name if old else '?'} to {plan.name}",
        actor=actor,
    )


def extend(membership: Membership, *, until: datetime, actor: Any) -> None:
    """Staff move the paid-through date later; grace becomes active again."""
    if membership.status not in (MembershipStatus.ACTIVE, MembershipStatus.GRACE, MembershipStatus.SUSPENDED):
        raise ValueError("Only a current membership can be extended.")
    if membership.paid_through is not None and until <= membership.paid_through:
        raise ValueError("The new date must be after the current paid-through date.")
    if until <= utcnow():
        raise ValueError("The new date must be in the future.")
    before = membership.status
    membership.paid_through = until
    if before == MembershipStatus.GRACE:
        membership.status = MembershipStatus.ACTIVE
        membership.grace_until = None
    db.session.flush()
    _log(membership, before, "extended by staff", actor=actor)


def cancel_now(
    membership: Membership, *, actor: Any = None, reason: str, stripe_event_id: str | None = None
) -> None:
    """Ends the membership at once (staff, or a full refund when staff choose so)."""
    if membership.status in (MembershipStatus.CANCELLED, MembershipStatus.LAPSED, MembershipStatus.EXPIRED):
        return
    before = membership.status
    now = utcnow()
    membership.status = MembershipStatus.CANCELLED
    membership.auto_renew = False
    membership.cancelled_at = now
    membership.ended_at = now
    membership.grace_until = None
    db.session.flush()
    _log(membership, before, reason, actor=actor, stripe_event_id=stripe_event_id)


def set_auto_renew(
    membership: Membership,
    on: bool,
    *,
    actor: Any = None,
    reason: str,
    stripe_event_id: str | None = None,
) -> None:
    """Off = cancel at period end: stays active until paid_through ("ends on ..."); on again before then."""
    if membership.auto_renew == on and (on or membership.cancelled_at is not None):
        return
    if on and membership.status not in (MembershipStatus.ACTIVE, MembershipStatus.GRACE):
        raise ValueError("Only a current membership can renew automatically.")
    membership.auto_renew = on
    membership.cancelled_at = None if on else utcnow()
    db.session.flush()
    _log(membership, membership.status, reason, actor=actor, stripe_event_id=stripe_event_id)


def ends_at_period_end(membership: Membership) -> bool:
    """True when the member turned auto-renew off: it ends on paid_through."""
    return (
        membership.status == MembershipStatus.ACTIVE
        and not membership.auto_renew
        and membership.cancelled_at is not None
        and membership.paid_through is not None
    )


def enter_grace(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> None:
    if membership.status != MembershipStatus.ACTIVE:
        return
    membership.status = MembershipStatus.GRACE
    membership.grace_until = utcnow() + timedelta(days=grace_days(membership.plan))
    db.session.flush()
    _log(membership, MembershipStatus.ACTIVE, reason, stripe_event_id=stripe_event_id)


def lapse(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> None:
    if membership.status not in (MembershipStatus.ACTIVE, MembershipStatus.GRACE):
        return
    before = membership.status
    membership.status = MembershipStatus.LAPSED
    membership.auto_renew = False
    membership.grace_until = None
    membership.ended_at = utcnow()
    db.session.flush()
    _log(membership, before, reason, stripe_event_id=stripe_event_id)


def expire_pending(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> None:
    """A checkout that was abandoned or expired (or a first Direct Debit that failed: Stripe ends
    its subscription); the supporter can start again."""
    if membership.status not in (MembershipStatus.PENDING, MembershipStatus.DIRECT_DEBIT_PENDING):
        return
    before = membership.status
    membership.status = MembershipStatus.EXPIRED
    membership.ended_at = utcnow()
    db.session.flush()
    _log(membership, before, reason, stripe_event_id=stripe_event_id)


def await_direct_debit(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> bool:
    """Checkout completed by Direct Debit, the first collection not settled: True when it changed.

    Only from pending: a collection that already succeeded (active) or failed (expired), its
    events arriving first, is not undone by the late checkout event.
    """
    if membership.status != MembershipStatus.PENDING:
        return False
    membership.status = MembershipStatus.DIRECT_DEBIT_PENDING
    membership.pending_expires_at = None
    db.session.flush()
    _log(membership, MembershipStatus.PENDING, reason, stripe_event_id=stripe_event_id)
    return True


def fail_direct_debit(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> bool:
    """The first Direct Debit collection failed: no membership (expired). True when it changed."""
    if membership.status not in (MembershipStatus.PENDING, MembershipStatus.DIRECT_DEBIT_PENDING):
        return False
    expire_pending(membership, reason=reason, stripe_event_id=stripe_event_id)
    return True


def suspend(membership: Membership, *, actor: Any, reason: str) -> None:
    if membership.status not in (MembershipStatus.ACTIVE, MembershipStatus.GRACE, MembershipStatus.PENDING):
        raise ValueError("Only a current membership can be suspended.")
    before = membership.status
    membership.status = MembershipStatus.SUSPENDED
    db.session.flush()
    _log(membership, before, reason, actor=actor)


def unsuspend(membership: Membership, *, actor: Any, reason: str) -> None:
    """Back to active when still paid (or open-ended), otherwise to grace to give time to renew."""
    if membership.status != MembershipStatus.SUSPENDED:
        raise ValueError("This membership is not suspended.")
    now = utcnow()
    if membership.paid_through is None or membership.paid_through > now:
        membership.status = MembershipStatus.ACTIVE
        membership.grace_until = None
    else:
        membership.status = MembershipStatus.GRACE
        membership.grace_until = now + timedelta(days=grace_days(membership.plan))
    db.session.flush()
    _log(membership, MembershipStatus.SUSPENDED, reason, actor=actor)
