"""The history rows of a set-based change: one MembershipEvent per membership an UPDATE moved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from crm.extensions import db
from crm.memberships.lifecycle.facts import refresh_membership_status
from crm.memberships.models import MembershipEvent


def log_moved(rows: Sequence[Any], from_status: str, to_status: str, reason: str, now: datetime) -> None:
    """One event for each (id, paid_through) row an UPDATE ... RETURNING gave, in one INSERT."""
    if not rows:
        return
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
    refresh_membership_status(membership_ids=[row.id for row in rows])
