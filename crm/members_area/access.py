"""Who has members' access, read from the membership lifecycle (the one owner of those rules)."""

from __future__ import annotations

from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipEvent


def latest_membership(contact_id: int) -> Membership | None:
    """The contact's current membership, or else their most recent one."""
    return lifecycle.current_membership(contact_id) or lifecycle.latest_membership(contact_id)


def has_access(contact_id: int) -> bool:
    return lifecycle.has_access(contact_id)


def membership_state(contact_id: int) -> tuple[bool, str | None]:
    """(has members' access, status of the latest membership or None if they never joined)."""
    membership = latest_membership(contact_id)
    if membership is None:
        return False, None
    return has_access(contact_id), membership.status


def status_explanation(membership: Membership) -> list[MembershipEvent]:
    """The events that led the membership to its state, oldest first."""
    return list(lifecycle.status_explanation(membership))
