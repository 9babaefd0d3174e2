"""A payment that fails after it looked paid (a Bacs Direct Debit the bank returns days later).

The money never arrived, so the membership goes where the failure would have taken it had it
come at once: a failed renewal is grace (paid-through back at the start of the unpaid period,
so a successful retry extends it again with no gap), a failed first collection is no membership.
Both are idempotent: a redelivered or late event changes nothing more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.lifecycle.periods import grace_days
from crm.memberships.lifecycle.transitions import _log
from crm.memberships.models import Membership, MembershipStatus

#: Statuses a returned first collection ends (the pending ones had not started yet).
_FIRST_COLLECTION_ENDS = (
    MembershipStatus.PENDING,
    MembershipStatus.DIRECT_DEBIT_PENDING,
    MembershipStatus.ACTIVE,
    MembershipStatus.GRACE,
)


def renewal_returned(
    membership: Membership, *, unpaid_from: datetime | None, reason: str, stripe_event_id: str | None = None
) -> bool:
    """A renewal that was recorded paid has failed: grace, as a failed renewal gives. True when it changed."""
    if membership.status not in (MembershipStatus.ACTIVE, MembershipStatus.GRACE):
        return False
    before = membership.status
    moved_back = (
        unpaid_from is not None
        and membership.paid_through is not None
        and unpaid_from < membership.paid_through
    )
    if not moved_back and before == MembershipStatus.GRACE:
        return False
    if moved_back:
        membership.paid_through = unpaid_from
    if before == MembershipStatus.ACTIVE:
        membership.status = MembershipStatus.GRACE
        membership.grace_until = utcnow() + timedelta(days=grace_days(membership.plan))
    db.session.flush()
    _log(membership, before, reason, stripe_event_id=stripe_event_id)
    return True


def first_collection_returned(
    membership: Membership, *, reason: str, stripe_event_id: str | None = None
) -> bool:
    """The first collection, recorded paid (or about to be), has failed: no membership (expired),
    never started. True when it changed; the supporter can join again."""
    if membership.status not in _FIRST_COLLECTION_ENDS:
        return False
    before = membership.status
    membership.status = MembershipStatus.EXPIRED
    membership.ended_at = utcnow()
    membership.paid_through = None
    membership.current_period_start = None
    membership.grace_until = None
    membership.joined_at = None
    db.session.flush()
    _log(membership, before, reason, stripe_event_id=stripe_event_id)
    return True
