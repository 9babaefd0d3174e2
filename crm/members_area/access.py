"""Who has members' access, read from the membership lifecycle (the one owner of those rules)."""

from __future__ import annotations

from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import ACCESS_STATUSES, CURRENT_STATUSES, Membership, MembershipEvent
from crm.memberships.queries import latest_status_select


def latest_membership(contact_id: int) -> Membership | None:
    """The contact's current membership, or else their most recent one."""
    return lifecycle.current_membership(contact_id) or lifecycle.latest_membership(contact_id)


def has_access(contact_id: int) -> bool:
    return lifecycle.has_access(contact_id)


def membership_state(contact_id: int, known_status: str | None = None) -> tuple[bool, str | None]:
    """(has members' access, status of the latest membership or None if they never joined).

    One query for what `latest_membership` and `has_access` would read separately: the current
    membership first (a contact has at most one), else the most recent one. `known_status` is
    that status already read with the signed-in user (`User.latest_membership_status`: "" for
    never joined), which saves the query.
    """
    if known_status is None:
        status = db.session.scalar(latest_status_select(), {"contact_id": contact_id})
    else:
        status = known_status or None
    if status is None:
        return False, None
    return status in ACCESS_STATUSES and status in CURRENT_STATUSES, status


def status_explanation(membership: Membership) -> list[MembershipEvent]:
    """The events that led the membership to its state, oldest first."""
    return list(lifecycle.status_explanation(membership))
