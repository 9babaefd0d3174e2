"""Memberships brought in from an old list (the staff CSV import).

The import writes thousands of rows with a few set-based statements, so it cannot call one
transition per row; instead the lifecycle decides the status an imported row takes and writes
the history of every imported status, the same MembershipEvent rows any other change leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.lifecycle.facts import refresh_membership_status
from crm.memberships.lifecycle.periods import period_end
from crm.memberships.models import MembershipEvent, MembershipStatus, Plan

#: Statuses an imported row may name: pending and the Direct Debit states belong to Checkout.
IMPORT_STATUSES = (
    MembershipStatus.ACTIVE,
    MembershipStatus.GRACE,
    MembershipStatus.LAPSED,
    MembershipStatus.CANCELLED,
    MembershipStatus.SUSPENDED,
    MembershipStatus.EXPIRED,
)
IMPORT_REASON = "Imported from CSV"


@dataclass
class ImportedTerms:
    """What an imported row becomes, with each guess made for what the file left out."""

    status: MembershipStatus
    paid_through: datetime | None
    assumed: list[str] = field(default_factory=list)


def imported_terms(
    plan: Plan, status: str, *, joined: datetime | None, paid_through: datetime | None
) -> ImportedTerms:
    """Fill in what an old list leaves out: the paid-through date from the joined date and the
    plan's period, the status from the paid-through date. Raises ValueError for the row."""
    from crm.core.templating import format_date

    if status and status not in IMPORT_STATUSES:
        raise ValueError(f"unknown membership status “{status[:40]}”")
    assumed: list[str] = []
    if (
        plan.recurring
        and paid_through is None
        and status in ("", MembershipStatus.ACTIVE, MembershipStatus.GRACE)
    ):
        if joined is None:
            raise ValueError(f"a {plan.interval}ly membership needs a paid-through or joined date")
        paid_through = period_end(plan, joined)
        assumed.append(f"paid through {format_date(paid_through)} (joined date + one {plan.interval})")
    if status:
        return ImportedTerms(MembershipStatus(status), paid_through, assumed)
    if not plan.recurring or (paid_through is not None and paid_through >= utcnow()):
        assumed.append("status active")
        return ImportedTerms(MembershipStatus.ACTIVE, paid_through, assumed)
    assumed.append("status lapsed (the paid-through date has passed)")
    return ImportedTerms(MembershipStatus.LAPSED, paid_through, assumed)


def record_imported_statuses(changes: list[tuple[Any, Any, Any, Any]], now: datetime) -> None:
    """The history of imported statuses: one event per (membership id, from, to, paid-through),
    written with one multi-row INSERT."""
    if changes:
        db.session.execute(
            insert(MembershipEvent.__table__),
            [
                {"membership_id": membership_id, "from_status": before, "to_status": after,
                 "reason": IMPORT_REASON, "paid_through": paid_through, "created_at": now}
                for membership_id, before, after, paid_through in changes
            ],
        )  # fmt: skip
        refresh_membership_status(membership_ids=[membership_id for membership_id, *_ in changes])
