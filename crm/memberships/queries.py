"""Which status a contact's latest membership has, as SQL: the current membership first (a contact
has at most one), else the most recent. Read on every signed-in request, by accounts (with the user)
and by the members' area."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, case, func, literal_column, or_, select

from crm.memberships.models import CURRENT_STATUSES, Membership


def _latest_status_query(contact_id: Any) -> Select[Any]:
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
def latest_status_select() -> Select[Any]:
    """The status of `:contact_id`'s current membership, else their latest (built once: this runs
    for every signed-in member's page view)."""
    return _latest_status_query(bindparam("contact_id"))


def latest_status_column(contact_id_column: Any) -> Any:
    """The same status as a correlated column ("" when they never joined), to read with a user
    in a Core statement (on the table, so no ORM entity is involved), as two index lookups rather
    than a sort: the current membership through the partial unique index
    `uq_membership_one_current_per_contact` (its condition written out as the index has it, the
    same statuses in the same order, so that SQLite and a prepared PostgreSQL plan can use it),
    else the latest one by id through `ix_membership_contact_id`."""
    memberships = Membership.__table__.c
    current_statuses: list[Any] = [literal_column(f"'{status.value}'") for status in CURRENT_STATUSES]
    current = select(memberships.status).where(
        memberships.contact_id == contact_id_column, memberships.status.in_(current_statuses)
    )
    latest = (
        select(memberships.status)
        .where(memberships.contact_id == contact_id_column)
        .order_by(memberships.id.desc())
        .limit(1)
    )
    return func.coalesce(current.scalar_subquery(), latest.scalar_subquery(), "")
