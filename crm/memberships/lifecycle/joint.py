"""Joint membership: two adults at one address, one payment, two members.

The paying ("primary") membership names the second adult (`partner_contact_id`) when the join
form is sent. When it is first paid, the second adult gets their own membership row, which
follows the primary (`joint_primary_id`): its status, plan and dates are the primary's, copied
here after every change, so the second adult's access is exactly the primary's status (lapse,
grace, cancel, suspension and renewal all follow). The row has no payments and no Stripe ids;
it never moves on its own (the daily run's set-based rules skip it and copy the primary instead).

Erasure of one of the two ends the link and leaves the other as they were (`end_joint_link`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from crm.contacts.models import Contact
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.lifecycle.event_log import log_moved
from crm.memberships.lifecycle.facts import refresh_membership_status
from crm.memberships.lifecycle.states import MEMBER_STATUSES
from crm.memberships.models import CURRENT_STATUSES, Membership, MembershipEvent, MembershipStatus

log = logging.getLogger("crm.memberships")

#: What the second adult's row copies from the paying membership.
MIRRORED = (
    "status",
    "plan_id",
    "current_period_start",
    "paid_through",
    "grace_until",
    "auto_renew",
    "complimentary",
    "cancelled_at",
    "ended_at",
)


class PartnerNotAllowed(ValueError):
    """The person named cannot be the second adult of this membership (the message says why)."""


def _event(membership: Membership, from_status: str | None, reason: str, **extra: Any) -> None:
    db.session.add(
        MembershipEvent(
            membership_id=membership.id,
            from_status=from_status,
            to_status=membership.status,
            reason=reason[:200],
            paid_through=membership.paid_through,
            **extra,
        )
    )
    refresh_membership_status(contact_ids=[membership.contact_id])


def follower_of(primary: Membership) -> Membership | None:
    """The second adult's row of this paying membership, if it was made."""
    return db.session.scalar(select(Membership).where(Membership.joint_primary_id == primary.id))


def paid_for_by_partner(membership: Membership | None) -> bool:
    """True for the second adult's row: the paying adult's payments cover it, so what rides on a
    payment (Gift Aid, the card, auto-renewal) is the payer's to manage, not theirs."""
    return membership is not None and membership.joint_primary_id is not None


def joint_partners(first_id: int, second_id: int) -> bool:
    """True when the two contacts are the two adults of one joint membership, either way round
    (named on the paying membership, whether or not the second adult's row exists yet)."""
    pair = (first_id, second_id)
    named = select(Membership.id).where(
        Membership.contact_id.in_(pair),
        Membership.partner_contact_id.in_(pair),
        Membership.contact_id != Membership.partner_contact_id,
    )
    return bool(db.session.scalar(select(named.exists())))


def name_partner(membership: Membership, partner: Contact | None) -> None:
    """The second adult of a pending joint membership (None for a plan for one).

    Raises PartnerNotAllowed for the payer themselves, or someone who is already a member."""
    if partner is not None:
        if partner.id == membership.contact_id:
            raise PartnerNotAllowed("the second adult must be someone else")
        current = db.session.scalar(
            select(Membership).where(
                Membership.contact_id == partner.id, Membership.status.in_(MEMBER_STATUSES)
            )
        )
        if current is not None:
            raise PartnerNotAllowed("the second adult is already a member")
    new_id = partner.id if partner is not None else None
    if membership.partner_contact_id != new_id:
        membership.partner_contact_id = new_id
        db.session.flush()


def open_for_partner(primary: Membership) -> Membership | None:
    """At the paying membership's (re)activation: the second adult's own row, made once.

    Returns the row when it was made just now (the caller opens their account and welcomes them),
    else None. A second adult who became a member on their own meanwhile is left as they are."""
    if primary.partner_contact_id is None or not primary.plan.joint or follower_of(primary) is not None:
        return None
    other = db.session.scalar(
        select(Membership).where(
            Membership.contact_id == primary.partner_contact_id, Membership.status.in_(CURRENT_STATUSES)
        )
    )
    if other is not None and other.status != MembershipStatus.PENDING:
        log.warning("membership %s: joint partner is already a member (%s)", primary.id, other.id)
        _event(primary, primary.status, "joint partner not added: they are already a member")
        return None
    if other is not None:  # their own unpaid checkout gives way to the membership paid for them
        other.status = MembershipStatus.EXPIRED
        other.ended_at = utcnow()
        db.session.flush()
        _event(other, MembershipStatus.PENDING, "superseded by a joint membership")
    joined_before = db.session.scalar(
        select(Membership.joined_at)
        .where(Membership.contact_id == primary.partner_contact_id, Membership.joined_at.is_not(None))
        .order_by(Membership.joined_at)
        .limit(1)
    )
    follower = Membership(
        contact_id=primary.partner_contact_id,
        joint_primary_id=primary.id,
        joined_at=joined_before or primary.current_period_start or utcnow(),
        **{name: getattr(primary, name) for name in MIRRORED},
    )
    db.session.add(follower)
    db.session.flush()
    _event(follower, None, f"joint membership paid by contact {primary.contact_id}")
    return follower


def follow(primary: Membership, reason: str, *, stripe_event_id: str | None = None) -> None:
    """After any change of a paying membership: its second adult's row takes the same state."""
    if primary.partner_contact_id is None:  # a plan for one (or the second adult's own row)
        return
    follower = follower_of(primary)
    if follower is None:
        return
    if not primary.plan.joint:  # moved to a plan for one: the second adult's membership ends
        primary.partner_contact_id = None
        _end_follower(follower, f"joint membership ended: {reason}", utcnow())
        return
    if all(getattr(follower, name) == getattr(primary, name) for name in MIRRORED):
        return
    before = follower.status
    if primary.status in CURRENT_STATUSES and before not in CURRENT_STATUSES:
        other = db.session.scalar(
            select(Membership.id).where(
                Membership.contact_id == follower.contact_id,
                Membership.status.in_(CURRENT_STATUSES),
                Membership.id != follower.id,
            )
        )
        if other is not None:  # rejoined on their own since: the joint row stays ended
            return
    for name in MIRRORED:
        setattr(follower, name, getattr(primary, name))
    db.session.flush()
    _event(follower, before, f"joint membership: {reason}", stripe_event_id=stripe_event_id)


def _end_follower(follower: Membership, reason: str, now: datetime) -> None:
    """The second adult's row stops following: cancelled now if it was current."""
    before = follower.status
    follower.joint_primary_id = None
    if before in CURRENT_STATUSES:
        follower.status = MembershipStatus.CANCELLED
        follower.cancelled_at = follower.ended_at = now
        follower.auto_renew = False
    db.session.flush()
    _event(follower, before, reason)


def follow_bulk(from_status: str, to_status: str, reason: str, now: datetime) -> int:
    """The daily run's half for second adults: every row whose paying membership has just moved
    from `from_status` to `to_status` copies it (one UPDATE ... RETURNING and one INSERT)."""
    primary = aliased(Membership)

    def copied(name: str) -> Any:
        return (
            select(getattr(primary, name)).where(primary.id == Membership.joint_primary_id).scalar_subquery()
        )

    statement = (
        update(Membership)
        .where(
            Membership.joint_primary_id.in_(select(primary.id).where(primary.status == to_status)),
            Membership.status == from_status,
        )
        .values(updated_at=now, **{name: copied(name) for name in MIRRORED})
        .returning(Membership.id, Membership.paid_through)
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(statement).all()
    log_moved(rows, from_status, to_status, f"joint membership: {reason}"[:200], now)
    return len(rows)


def end_joint_link(contact: Contact, *, reason: str) -> None:
    """Before one of the two is erased: the link ends and the other keeps what they have.

    Erasing the second adult ends their row (cancelled) and unnames them on the paying membership.
    Erasing the payer detaches the second adult's row: it keeps its status and paid-through date,
    no longer renews, and then runs out (grace, lapse) by the daily run like any fixed-term one."""
    now = utcnow()
    for paying in db.session.scalars(
        select(Membership).where(Membership.partner_contact_id == contact.id)
    ).all():  # they are the second adult (or were named on a join not yet paid)
        own = follower_of(paying)
        paying.partner_contact_id = None
        db.session.flush()
        if own is None:
            continue
        _end_follower(own, reason, now)
        _event(paying, paying.status, "joint partner erased: a membership for one from now on")
    for primary in db.session.scalars(
        select(Membership).where(
            Membership.contact_id == contact.id, Membership.partner_contact_id.is_not(None)
        )
    ).all():  # they pay: the second adult keeps what was paid for
        follower = follower_of(primary)
        primary.partner_contact_id = None
        db.session.flush()
        if follower is not None:
            follower.joint_primary_id = None
            follower.auto_renew = False
            db.session.flush()
            _event(
                follower, follower.status, "the paying joint member was erased: runs to its paid-through date"
            )
