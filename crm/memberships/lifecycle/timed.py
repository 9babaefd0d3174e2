"""The daily job's transitions: set-based (one UPDATE ... RETURNING and one INSERT per rule),
no per-member Python loop."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select, update

from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.lifecycle.event_log import log_moved
from crm.memberships.lifecycle.joint import follow_bulk
from crm.memberships.lifecycle.states import STRIPE_RENEWAL_SLACK
from crm.memberships.models import Membership, MembershipStatus, Plan


def _bulk_transition(
    where: Any, from_status: str, to_status: str, reason: str, now: datetime, values: dict[str, Any]
) -> int:
    """UPDATE ... WHERE ... RETURNING, then one multi-row INSERT of the events; second adults of
    joint memberships never move on their own: they copy their paying membership afterwards."""
    statement = (
        update(Membership)
        .where(Membership.status == from_status, Membership.joint_primary_id.is_(None), where)
        .values(status=to_status, updated_at=now, **values)
        .returning(Membership.id, Membership.paid_through)
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(statement).all()
    log_moved(rows, from_status, to_status, reason, now)
    if rows:
        follow_bulk(from_status, to_status, reason, now)
    db.session.expire_all()  # ORM objects in this session now hold stale statuses
    return len(rows)


def expire_stale_pending(now: datetime) -> int:
    return _bulk_transition(
        Membership.pending_expires_at < now,
        MembershipStatus.PENDING,
        MembershipStatus.EXPIRED,
        "checkout not completed in time",
        now,
        {"ended_at": now},
    )


def move_overdue_to_grace(now: datetime) -> int:
    """Fixed-term memberships past paid-through (Stripe ones after a slack for late renewals)."""
    default_days = int(current_app.config["GRACE_DAYS"])
    total = 0
    for plan_id, days in db.session.execute(select(Plan.id, Plan.grace_days)).all():
        overdue = and_(
            Membership.plan_id == plan_id,
            Membership.paid_through.is_not(None),
            Membership.cancelled_at.is_(None),
            or_(
                and_(Membership.stripe_subscription_id.is_(None), Membership.paid_through < now),
                Membership.paid_through < now - STRIPE_RENEWAL_SLACK,
            ),
        )
        total += _bulk_transition(
            overdue,
            MembershipStatus.ACTIVE,
            MembershipStatus.GRACE,
            "paid-through date passed without renewal",
            now,
            {"grace_until": now + timedelta(days=days if days is not None else default_days)},
        )
    return total


def lapse_after_grace(now: datetime) -> int:
    return _bulk_transition(
        and_(Membership.grace_until.is_not(None), Membership.grace_until < now),
        MembershipStatus.GRACE,
        MembershipStatus.LAPSED,
        "grace period ended without payment",
        now,
        {"ended_at": now, "auto_renew": False, "grace_until": None},
    )


def lapse_cancelled_at_period_end(now: datetime) -> int:
    return _bulk_transition(
        and_(
            Membership.auto_renew.is_(False),
            Membership.cancelled_at.is_not(None),
            Membership.paid_through.is_not(None),
            Membership.paid_through < now,
        ),
        MembershipStatus.ACTIVE,
        MembershipStatus.LAPSED,
        "ended at the end of the paid period (auto-renew off)",
        now,
        {"ended_at": now},
    )


def run_daily(now: datetime | None = None) -> dict[str, int]:
    """Every time-based transition, in the order that keeps them from overlapping."""
    now = now or utcnow()
    return {
        "expired": expire_stale_pending(now),
        "lapsed_at_period_end": lapse_cancelled_at_period_end(now),
        "lapsed_after_grace": lapse_after_grace(now),
        "to_grace": move_overdue_to_grace(now),
    }
