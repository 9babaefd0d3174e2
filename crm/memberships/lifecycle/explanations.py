"""Reading the lifecycle: a contact's current membership, their access, and how it came to be."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from crm.extensions import db
from crm.memberships.models import (
    ACCESS_STATUSES,
    CURRENT_STATUSES,
    Membership,
    MembershipEvent,
    MembershipStatus,
)


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
    statuses = (
        (MembershipStatus.ACTIVE, MembershipStatus.GRACE) if include_grace else (MembershipStatus.ACTIVE,)
    )
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
