"""Who has members' access, read from the membership lifecycle (the one owner of those rules)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, case, func, or_, select

from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import ACCESS_STATUSES, CURRENT_STATUSES, Membership, MembershipEvent


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
        status = db.session.scalar(_latest_status(), {"contact_id": contact_id})
    else:
        status = known_status or None
    if status is None:
        return False, None
    return status in ACCESS_STATUSES and status in CURRENT_STATUSES, status


def _latest_status_query(contact_id: Any) -> Select[tuple[str]]:
    # Equalities rather than IN (...): an IN list is re-expanded into the SQL on every execution,
    # and this runs on every signed-in request.
    is_current = or_(*(Membership.status == status for status in CURRENT_STATUSES))
    return (
        select(Membership.status)
        .where(Membership.contact_id == contact_id)
        .order_by(case((is_current, 0), else_=1), Membership.id.desc())
        .limit(1)
    )


@cache
def _latest_status() -> Select[tuple[str]]:
    """Built once: this runs for every signed-in member's page view."""
    return _latest_status_query(bindparam("contact_id"))


def latest_status_of(contact_id_column: Any) -> Any:
    """The same status as a correlated column ("" when they never joined), to read with a user."""
    return func.coalesce(_latest_status_query(contact_id_column).scalar_subquery(), "")


def status_explanation(membership: Membership) -> list[MembershipEvent]:
    """The events that led the membership to its state, oldest first."""
    return list(lifecycle.status_explanation(membership))
