"""Who has members' access: a thin seam over the membership lifecycle module.

The lifecycle module (crm/memberships/lifecycle.py) owns the rules; these helpers only ask it,
falling back to the stored status while that module is not installed.
"""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import select

from crm.extensions import db
from crm.memberships.models import ACCESS_STATUSES, CURRENT_STATUSES, Membership


def _lifecycle() -> ModuleType | None:
    try:
        from crm.memberships import lifecycle
    except ImportError:  # pragma: no cover  (the lifecycle module is written in parallel)
        return None
    return lifecycle


def latest_membership(contact_id: int) -> Membership | None:
    """The contact's current membership, or else their most recent one."""
    lifecycle = _lifecycle()
    if lifecycle is not None and hasattr(lifecycle, "latest_membership"):
        current = lifecycle.current_membership(contact_id) if hasattr(lifecycle, "current_membership") else None
        return current or lifecycle.latest_membership(contact_id)
    rows = db.session.scalars(
        select(Membership).where(Membership.contact_id == contact_id).order_by(Membership.id.desc())
    ).all()
    current = [m for m in rows if m.status in CURRENT_STATUSES]
    return current[0] if current else (rows[0] if rows else None)


def has_access(contact_id: int, membership: Membership | None = None) -> bool:
    lifecycle = _lifecycle()
    if lifecycle is not None and hasattr(lifecycle, "has_access"):
        return bool(lifecycle.has_access(contact_id))
    membership = membership or latest_membership(contact_id)
    return membership is not None and membership.status in ACCESS_STATUSES


def membership_state(contact_id: int) -> tuple[bool, str | None]:
    """(has members' access, status of the latest membership or None if they never joined)."""
    membership = latest_membership(contact_id)
    return has_access(contact_id, membership), membership.status if membership else None


def status_explanation(membership: Membership) -> str:
    """Why the membership is in its state, in words (from the lifecycle when it can say)."""
    lifecycle = _lifecycle()
    if lifecycle is not None and hasattr(lifecycle, "status_explanation"):
        return str(lifecycle.status_explanation(membership))
    last = membership.events[-1] if membership.events else None
    return last.reason if last is not None else ""
