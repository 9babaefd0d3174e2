"""The daily run (`flask crm daily`, cron once a day): idempotent and set-based.

1. the time-based lifecycle transitions (crm.memberships.lifecycle, set-based);
2. reminder and notice emails, each queued once per membership period (dedupe keys), found with
   one query per kind and inserted in batches that skip keys already present;
3. scheduled news posts published;
4. the outbox swept (anything still queued is sent, dead workers' locks reclaimed).
Each step commits on its own, so a failure in a later step keeps the earlier ones. Running it
twice changes nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from flask.sansio.app import App
from sqlalchemy import Select, select

from crm.contacts.models import Contact
from crm.core.languages import normalise_language
from crm.core.types import utcnow
from crm.email.services import Outgoing, queue_emails
from crm.extensions import db
from crm.memberships.models import Membership, MembershipEvent, MembershipStatus, Plan

log = logging.getLogger("crm.daily")

#: The lifecycle's set-based steps, in the order that keeps them from overlapping.
LIFECYCLE_STEPS = (
    ("expired", "expire_stale_pending"),
    ("lapsed_at_period_end", "lapse_cancelled_at_period_end"),
    ("lapsed_after_grace", "lapse_after_grace"),
    ("to_grace", "move_overdue_to_grace"),
)
#: A lapse is announced if it happened this recently (covers a few missed daily runs).
LAPSED_NOTICE_WINDOW = timedelta(days=3)
INSERT_BATCH = 1000

#: Where `register_daily_step` keeps the other domains' steps (per app).
_DAILY_STEPS = "crm.daily.steps"


def register_daily_step(app: App, key: str, step: Callable[[datetime], int], *, order: int) -> None:
    """Add another domain's step to the daily run (events' reminders, billing's card-expiry
    notices, news' scheduled posts), run after the membership steps in `order`, each committed on
    its own; the domain registers it when its blueprint is registered, so this module imports none."""
    app.extensions.setdefault(_DAILY_STEPS, {})[key] = (order, step)


def daily_steps(app: Flask) -> list[tuple[str, Callable[[datetime], int]]]:
    """The registered steps, in their order."""
    steps = app.extensions.get(_DAILY_STEPS, {})
    return [(key, step) for key, (_, step) in sorted(steps.items(), key=lambda item: item[1][0])]


def run_daily(now: datetime | None = None) -> dict[str, int]:
    """Everything the organisation needs done once a day; returns what each step did."""
    now = now or utcnow()
    summary: dict[str, int] = {}
    summary.update(run_lifecycle(now))
    db.session.commit()
    summary["lapsed_notices"] = queue_lapsed_notices(now)
    summary["reminders_30"] = queue_renewal_reminders(now, days=30)
    summary["reminders_7"] = queue_renewal_reminders(now, days=7)
    summary["charge_notices"] = queue_annual_charge_notices(now)
    db.session.commit()
    for key, step in daily_steps(current_app):
        summary[key] = int(step(now) or 0)
        db.session.commit()
    summary.update({f"outbox_{key}": value for key, value in sweep_outbox().items()})
    log.info("daily run: %s", summary)
    return summary


def run_lifecycle(now: datetime) -> dict[str, int]:
    from crm.memberships import lifecycle

    done: dict[str, int] = {}
    for key, name in LIFECYCLE_STEPS:
        step = getattr(lifecycle, name)
        done[key] = int(step(now) or 0)
    return done


def sweep_outbox() -> dict[str, int]:
    """Send what is queued: here, or on the workers when Redis is configured (and up)."""
    from crm.email.delivery import sweep
    from crm.jobs.queue import try_enqueue

    if current_app.config.get("REDIS_URL") and try_enqueue("crm.email.delivery.sweep"):
        return {"sweep_queued": 1}
    return sweep()


# -- reminders -------------------------------------------------------------------------------


def _candidates() -> Select[*tuple[Any, ...]]:
    return (
        select(
            Membership.id,
            Membership.contact_id,
            Membership.paid_through,
            Contact.email,
            Contact.first_name,
            Contact.preferred_language,
            Plan.name.label("plan_name"),
            Plan.name_es.label("plan_name_es"),
            Plan.amount,
            Plan.currency,
        )
        .join(Contact, Contact.id == Membership.contact_id)
        .join(Plan, Plan.id == Membership.plan_id)
        .where(Membership.status == MembershipStatus.ACTIVE, Contact.erased_at.is_(None))
        .order_by(Membership.id)
    )


def queue_renewal_reminders(now: datetime, *, days: int) -> int:
    """Memberships that do not renew themselves, `days` (30 or 7) before they end, once a period.

    The 30-day reminder is for yearly plans only (a monthly period is shorter than the window) and
    gives way to the 7-day one inside its last week.
    """
    query = _candidates().where(
        Membership.auto_renew.is_(False),
        Membership.paid_through > now,
        Membership.paid_through <= now + timedelta(days=days),
    )
    if days > 7:
        query = query.where(Plan.interval == "year", Membership.paid_through > now + timedelta(days=7))
    rows = db.session.execute(query).all()
    return _queue_once(
        "renewal_reminder",
        (
            (
                f"reminder{days}:{row.id}:{row.paid_through:%Y%m%d}",
                row,
                {
                    "first_name": row.first_name,
                    "plan_name": row.plan_name,
                    "plan_name_es": row.plan_name_es,
                    "paid_through": row.paid_through,
                    "days_left": max((row.paid_through - now).days, 1),
                    "amount": row.amount,
                    "currency": row.currency,
                },
            )
            for row in rows
        ),
    )


def queue_annual_charge_notices(now: datetime) -> int:
    """Auto-renewing yearly Stripe subscriptions, 7 days before the card is charged, once a year."""
    rows = db.session.execute(
        _candidates().where(
            Membership.auto_renew.is_(True),
            Membership.cancelled_at.is_(None),
            Membership.stripe_subscription_id.is_not(None),
            Plan.interval == "year",
            Membership.paid_through > now,
            Membership.paid_through <= now + timedelta(days=7),
        )
    ).all()
    return _queue_once(
        "annual_charge_notice",
        (
            (
                f"charge7:{row.id}:{row.paid_through:%Y%m%d}",
                row,
                {
                    "first_name": row.first_name,
                    "plan_name": row.plan_name,
                    "plan_name_es": row.plan_name_es,
                    "charge_date": row.paid_through,
                    "amount": row.amount,
                    "currency": row.currency,
                },
            )
            for row in rows
        ),
    )


def queue_lapsed_notices(now: datetime) -> int:
    """One "your membership has ended" per lapsed membership, however it lapsed (daily run or Stripe)."""
    rows = db.session.execute(
        select(
            Membership.id,
            Membership.contact_id,
            Membership.ended_at,
            Contact.email,
            Contact.first_name,
            Contact.preferred_language,
            Plan.name.label("plan_name"),
            Plan.name_es.label("plan_name_es"),
        )
        .select_from(MembershipEvent)
        .join(Membership, Membership.id == MembershipEvent.membership_id)
        .join(Contact, Contact.id == Membership.contact_id)
        .join(Plan, Plan.id == Membership.plan_id)
        .where(
            MembershipEvent.to_status == MembershipStatus.LAPSED,
            MembershipEvent.created_at >= now - LAPSED_NOTICE_WINDOW,
            MembershipEvent.created_at <= now,
            Membership.status == MembershipStatus.LAPSED,
            Contact.erased_at.is_(None),
        )
        .order_by(Membership.id)
        .distinct()
    ).all()
    return _queue_once(
        "membership_lapsed",
        (
            (
                f"lapsed:{row.id}",
                row,
                {
                    "first_name": row.first_name,
                    "plan_name": row.plan_name,
                    "plan_name_es": row.plan_name_es,
                    "ended_on": row.ended_at,
                },  # fmt: skip
            )
            for row in rows
        ),
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _queue_once(kind: str, items: Iterable[tuple[str, Any, dict[str, Any]]]) -> int:
    """Queue the messages whose dedupe key is new through `queue_emails` (the one email path: each
    in its recipient's language), `INSERT_BATCH` at a time; a few queries, not one per member.
    They are sent by the run's last step (`sweep_outbox`), not after each commit."""
    messages = [
        Outgoing(row.email, row.contact_id, key, context, normalise_language(row.preferred_language) or "en")
        for key, row, context in items
    ]
    queued = 0
    for chunk in _chunks(messages, INSERT_BATCH):
        queued += sum(
            1 for outbox_id in queue_emails(kind, chunk, after_commit=False) if outbox_id is not None
        )
    return queued
