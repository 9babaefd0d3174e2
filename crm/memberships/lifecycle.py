"""The membership lifecycle: the one module that owns the rules between statuses.

The webhook, staff actions, the member's own actions and the daily job all call these
functions; each change writes an append-only MembershipEvent (from, to, reason, who or which
Stripe event, amount, paid-through). Functions flush; the caller commits.

The audit trail is the caller's: a staff action writes one audit row with the state before and
after (crm/staff/services.py), so these functions write MembershipEvent history only.

Statuses (see memberships/models.py):
- pending: checkout started, not paid; expires after PENDING_EXPIRY_HOURS or on
  checkout.session.expired, and never blocks a new attempt (it is reused).
- direct_debit_pending ("Direct Debit being set up"): the supporter completed Checkout with Bacs
  Direct Debit and the first collection has not settled yet (about three working days). Access
  rule: no members' access yet (they read public news, as any signed-in supporter, not members'
  news), because the money may still fail to arrive; it does block a second join. It becomes
  active when the collection succeeds (checkout.session.async_payment_succeeded or invoice.paid)
  and expired when it fails (`fail_direct_debit`); it never expires on a timer.
- active: paid or granted, until `paid_through` (none for life and complimentary memberships).
- grace: a renewal failed (Stripe past_due) or a fixed-term membership passed its paid-through
  date unrenewed; access continues until `grace_until`.
- lapsed: grace over, Stripe gave up, or a member-cancelled membership reached its end.
- cancelled: ended at once by staff (or after a full refund, when staff choose so).
- suspended: staff only; paying does not lift it.
- expired: a stale pending checkout.
Members' access is active or grace, nothing else.

Rejoining after a lapse creates a new membership row (one row per Stripe subscription) and the
new row copies the contact's original `joined_at`, so the join date and the old rows' history
are kept.

Cancel at period end: `set_auto_renew(m, False)` keeps the membership active and sets
`cancelled_at` to when the member asked; the daily job (or Stripe's subscription.deleted) lapses
it once `paid_through` passes. Turning auto-renew back on clears `cancelled_at`.
"""

from __future__ import annotations

import calendar
import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, insert, or_, select, update

from crm.contacts.models import Contact
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.models import (
    ACCESS_STATUSES,
    CURRENT_STATUSES,
    Membership,
    MembershipEvent,
    Plan,
)

log = logging.getLogger("crm.memberships")

#: Statuses a payment can (re)activate from, starting a new period.
RESTARTABLE_STATUSES = ("pending", "direct_debit_pending", "lapsed", "cancelled", "expired")
#: Statuses in which someone is already a member (or is paying by Direct Debit) and must not be
#: asked to pay again.
MEMBER_STATUSES = ("active", "grace", "suspended", "direct_debit_pending")
#: The statuses as members and staff read them.
STATUS_WORDS = {
    "pending": "waiting for payment",
    "direct_debit_pending": "Direct Debit being set up",
    "active": "active",
    "grace": "in its grace period",
    "lapsed": "lapsed",
    "cancelled": "cancelled",
    "suspended": "suspended",
    "expired": "expired",
}
OFFLINE_METHODS = ("bank_transfer", "cheque", "cash", "other")
#: Stripe renews a subscription up to about an hour after the period ends, and a webhook can be
#: late; the daily job waits this long before treating a Stripe subscription as unpaid.
STRIPE_RENEWAL_SLACK = timedelta(days=3)
MAX_OFFLINE_AMOUNT = 10_000_000  #: minor units (£100,000): a typo guard, not a policy


class AlreadyMember(Exception):
    """The contact already has an active, grace or suspended membership."""

    def __init__(self, membership: Membership) -> None:
        super().__init__(f"contact {membership.contact_id} is already a member ({membership.status})")
        self.membership = membership


# --- reading -----------------------------------------------------------------------------------


def current_membership(contact_id: int) -> Membership | None:
    """The contact's one current membership (pending, active, grace or suspended), if any."""
    return db.session.scalar(
        select(Membership).where(Membership.contact_id == contact_id, Membership.status.in_(CURRENT_STATUSES))
    )


def latest_membership(contact_id: int) -> Membership | None:
    return db.session.scalar(
        select(Membership).where(Membership.contact_id == contact_id).order_by(Membership.id.desc()).limit(1)
    )


def has_access(contact_id: int) -> bool:
    """Members' access: active or grace only."""
    current = current_membership(contact_id)
    return current is not None and current.status in ACCESS_STATUSES


def was_in_good_standing(contact_id: int, moment: datetime, *, include_grace: bool = True) -> bool:
    """Whether the contact held a membership that was active (or, with `include_grace`, in grace)
    at `moment`, read from the membership history (each change's to_status, as of that time)."""
    statuses = ("active", "grace") if include_grace else ("active",)
    latest_change = (
        select(func.max(MembershipEvent.id))
        .join(Membership, Membership.id == MembershipEvent.membership_id)
        .where(Membership.contact_id == contact_id, MembershipEvent.created_at <= moment)
        .group_by(MembershipEvent.membership_id)
    )
    found = db.session.scalar(
        select(func.count())
        .select_from(MembershipEvent)
        .where(MembershipEvent.id.in_(latest_change), MembershipEvent.to_status.in_(statuses))
    )
    return bool(found)


def status_explanation(membership: Membership) -> list[MembershipEvent]:
    """The events that led to the membership's state, oldest first."""
    return list(
        db.session.scalars(
            select(MembershipEvent)
            .where(MembershipEvent.membership_id == membership.id)
            .order_by(MembershipEvent.id)
        )
    )


# --- helpers -----------------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, clamping the day (31 January + 1 month = 28/29 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_end(plan: Plan, start: datetime) -> datetime | None:
    """The end of one plan period starting at `start`; none for life membership."""
    if plan.interval == "month":
        return add_months(start, 1)
    if plan.interval == "year":
        return add_months(start, 12)
    return None


def grace_days(plan: Plan) -> int:
    return plan.grace_days if plan.grace_days is not None else int(current_app.config["GRACE_DAYS"])


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
    db.session.flush()
    return event


def _original_joined_at(contact_id: int, exclude_id: int | None = None) -> datetime | None:
    query = select(func.min(Membership.joined_at)).where(Membership.contact_id == contact_id)
    if exclude_id is not None:
        query = query.where(Membership.id != exclude_id)
    return db.session.scalar(query)


def member_number_for(contact_id: int) -> str:
    """A member's number: M + the contact id zero-padded to 6 digits (the import writes the same in SQL)."""
    return f"M{contact_id:06d}"


def assign_member_number(contact: Contact) -> str:
    """The contact's membership number, assigned once (M + zero-padded contact id)."""
    if contact.member_number:
        return contact.member_number
    candidate, n = member_number_for(contact.id), 1
    while db.session.scalar(select(Contact.id).where(Contact.member_number == candidate)):
        n += 1
        candidate = f"{member_number_for(contact.id)}-{n}"
    contact.member_number = candidate
    db.session.flush()
    return candidate


def _on_first_activation(membership: Membership) -> None:
    """A new member: a membership number, an account, and a welcome email when the account is new."""
    contact = membership.contact
    assign_member_number(contact)
    try:
        from crm.accounts.services import ensure_member_account, send_welcome_email
    except ImportError:  # accounts not built yet: the member can still be given an account later
        log.warning("crm.accounts.services missing: no account created for contact %s", contact.id)
        return
    had_user = contact.user is not None
    user = ensure_member_account(contact)
    if not had_user:
        send_welcome_email(user)


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
            status="pending",
            auto_renew=auto_renew,
            joined_at=None,
            pending_expires_at=expires,
        )
        from crm.billing.services import insert_once

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
    if other.status == "pending":
        other.status = "expired"
        other.ended_at = utcnow()
        db.session.flush()
        _log(other, "pending", "superseded by a payment for an earlier checkout")
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
        membership.status = "active"
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

    if before in ("active", "grace", "suspended"):
        if membership.paid_through is None:
            # Life or complimentary without end: nothing to extend; a payment is still noted.
            if paid_through is not None or before == "suspended":
                return
            _log(membership, before, reason, actor=actor, stripe_event_id=stripe_event_id, amount=amount)
            return
        if paid_through is not None and paid_through <= membership.paid_through:
            return  # a replay or an older event: never move backwards
        membership.paid_through = paid_through
        if membership.current_period_start is None or period_start > membership.current_period_start:
            membership.current_period_start = period_start
        if before == "grace":
            membership.status = "active"
            membership.grace_until = None
        db.session.flush()
        _log(membership, before, reason, actor=actor, stripe_event_id=stripe_event_id, amount=amount)
        return
    raise ValueError(f"cannot activate a {before} membership")  # pragma: no cover


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
    from crm.billing.models import Payment
    from crm.billing.services import queue_receipt

    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("Enter an amount greater than zero.")
    if amount > MAX_OFFLINE_AMOUNT:
        raise ValueError("That amount is too large; check it and try again.")
    if method not in OFFLINE_METHODS:
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
        membership = Membership(contact_id=contact.id, plan_id=plan.id, status="pending", auto_renew=False)
        db.session.add(membership)
        db.session.flush()
        _log(membership, None, "offline payment recorded", actor=actor)
    elif membership.plan_id != plan.id:
        change_plan(membership, plan, actor=actor)

    if membership.status in ("active", "grace", "suspended") and membership.paid_through is not None:
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
        kind="membership",
        amount=amount,
        currency=plan.currency,
        status="paid",
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
        membership = Membership(contact_id=contact.id, plan_id=plan.id, status="pending")
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
    if membership.status not in ("active", "grace", "suspended"):
        raise ValueError("Only a current membership can be extended.")
    if membership.paid_through is not None and until <= membership.paid_through:
        raise ValueError("The new date must be after the current paid-through date.")
    if until <= utcnow():
        raise ValueError("The new date must be in the future.")
    before = membership.status
    membership.paid_through = until
    if before == "grace":
        membership.status = "active"
        membership.grace_until = None
    db.session.flush()
    _log(membership, before, "extended by staff", actor=actor)


def cancel_now(
    membership: Membership, *, actor: Any = None, reason: str, stripe_event_id: str | None = None
) -> None:
    """Ends the membership at once (staff, or a full refund when staff choose so)."""
    if membership.status in ("cancelled", "lapsed", "expired"):
        return
    before = membership.status
    now = utcnow()
    membership.status = "cancelled"
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
    if on and membership.status not in ("active", "grace"):
        raise ValueError("Only a current membership can renew automatically.")
    membership.auto_renew = on
    membership.cancelled_at = None if on else utcnow()
    db.session.flush()
    _log(membership, membership.status, reason, actor=actor, stripe_event_id=stripe_event_id)


def ends_at_period_end(membership: Membership) -> bool:
    """True when the member turned auto-renew off: it ends on paid_through."""
    return (
        membership.status == "active"
        and not membership.auto_renew
        and membership.cancelled_at is not None
        and membership.paid_through is not None
    )


def enter_grace(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> None:
    if membership.status != "active":
        return
    membership.status = "grace"
    membership.grace_until = utcnow() + timedelta(days=grace_days(membership.plan))
    db.session.flush()
    _log(membership, "active", reason, stripe_event_id=stripe_event_id)


def lapse(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> None:
    if membership.status not in ("active", "grace"):
        return
    before = membership.status
    membership.status = "lapsed"
    membership.auto_renew = False
    membership.grace_until = None
    membership.ended_at = utcnow()
    db.session.flush()
    _log(membership, before, reason, stripe_event_id=stripe_event_id)


def expire_pending(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> None:
    """A checkout that was abandoned or expired (or a first Direct Debit that failed: Stripe ends
    its subscription); the supporter can start again."""
    if membership.status not in ("pending", "direct_debit_pending"):
        return
    before = membership.status
    membership.status = "expired"
    membership.ended_at = utcnow()
    db.session.flush()
    _log(membership, before, reason, stripe_event_id=stripe_event_id)


def await_direct_debit(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> bool:
    """Checkout completed by Direct Debit, the first collection not settled: True when it changed.

    Only from pending: a collection that already succeeded (active) or failed (expired), its
    events arriving first, is not undone by the late checkout event.
    """
    if membership.status != "pending":
        return False
    membership.status = "direct_debit_pending"
    membership.pending_expires_at = None
    db.session.flush()
    _log(membership, "pending", reason, stripe_event_id=stripe_event_id)
    return True


def fail_direct_debit(membership: Membership, *, reason: str, stripe_event_id: str | None = None) -> bool:
    """The first Direct Debit collection failed: no membership (expired). True when it changed."""
    if membership.status not in ("pending", "direct_debit_pending"):
        return False
    expire_pending(membership, reason=reason, stripe_event_id=stripe_event_id)
    return True


def suspend(membership: Membership, *, actor: Any, reason: str) -> None:
    if membership.status not in ("active", "grace", "pending"):
        raise ValueError("Only a current membership can be suspended.")
    before = membership.status
    membership.status = "suspended"
    db.session.flush()
    _log(membership, before, reason, actor=actor)


def unsuspend(membership: Membership, *, actor: Any, reason: str) -> None:
    """Back to active when still paid (or open-ended), otherwise to grace to give time to renew."""
    if membership.status != "suspended":
        raise ValueError("This membership is not suspended.")
    now = utcnow()
    if membership.paid_through is None or membership.paid_through > now:
        membership.status = "active"
        membership.grace_until = None
    else:
        membership.status = "grace"
        membership.grace_until = now + timedelta(days=grace_days(membership.plan))
    db.session.flush()
    _log(membership, "suspended", reason, actor=actor)


# --- the daily job: set-based, no per-member Python loop ---------------------------------------


def _bulk_transition(
    where: Any, from_status: str, to_status: str, reason: str, now: datetime, values: dict[str, Any]
) -> int:
    """UPDATE ... WHERE ... RETURNING, then one multi-row INSERT of the events."""
    statement = (
        update(Membership)
        .where(Membership.status == from_status, where)
        .values(status=to_status, updated_at=now, **values)
        .returning(Membership.id, Membership.paid_through)
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(statement).all()
    if rows:
        db.session.execute(
            insert(MembershipEvent),
            [
                {
                    "membership_id": row.id,
                    "from_status": from_status,
                    "to_status": to_status,
                    "reason": reason,
                    "paid_through": row.paid_through,
                    "created_at": now,
                }
                for row in rows
            ],
        )
    db.session.expire_all()  # ORM objects in this session now hold stale statuses
    return len(rows)


def expire_stale_pending(now: datetime) -> int:
    return _bulk_transition(
        Membership.pending_expires_at < now,
        "pending",
        "expired",
        "checkout not completed in time",
        now,
        {"ended_at": now},
    )


def move_overdue_to_grace(now: datetime) -> int:
    """Fixed-term memberships past paid-through (Stripe ones after a slack for late renewals)."""
    default_days = int(current_app.config["GRACE_DAYS"])
    total = 0
    for plan_id, days in db.session.execute(select(Plan.id, Plan.grace_days)).all():
        overdue = and_(
            Membership.plan_id == plan_id,
            Membership.paid_through.is_not(None),
            Membership.cancelled_at.is_(None),
            or_(
                and_(Membership.stripe_subscription_id.is_(None), Membership.paid_through < now),
                Membership.paid_through < now - STRIPE_RENEWAL_SLACK,
            ),
        )
        total += _bulk_transition(
            overdue,
            "active",
            "grace",
            "paid-through date passed without renewal",
            now,
            {"grace_until": now + timedelta(days=days if days is not None else default_days)},
        )
    return total


def lapse_after_grace(now: datetime) -> int:
    return _bulk_transition(
        and_(Membership.grace_until.is_not(None), Membership.grace_until < now),
        "grace",
        "lapsed",
        "grace period ended without payment",
        now,
        {"ended_at": now, "auto_renew": False, "grace_until": None},
    )


def lapse_cancelled_at_period_end(now: datetime) -> int:
    return _bulk_transition(
        and_(
            Membership.auto_renew.is_(False),
            Membership.cancelled_at.is_not(None),
            Membership.paid_through.is_not(None),
            Membership.paid_through < now,
        ),
        "active",
        "lapsed",
        "ended at the end of the paid period (auto-renew off)",
        now,
        {"ended_at": now},
    )


def run_daily(now: datetime | None = None) -> dict[str, int]:
    """Every time-based transition, in the order that keeps them from overlapping."""
    now = now or utcnow()
    return {
        "expired": expire_stale_pending(now),
        "lapsed_at_period_end": lapse_cancelled_at_period_end(now),
        "lapsed_after_grace": lapse_after_grace(now),
        "to_grace": move_overdue_to_grace(now),
    }
