"""The day-before reminder, queued by the daily run once per booking."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from crm.events import services
from crm.events.localtime import local_day_bounds, to_local
from crm.events.models import Booking, BookingStatus, Event
from crm.extensions import db


def queue_event_reminders(now: datetime) -> int:
    """Email every confirmed booking of an event that starts tomorrow (UK date); a booking is
    reminded once (reminder_sent_at, and the outbox dedupe key if two runs overlap)."""
    start, end = local_day_bounds(to_local(now).date() + timedelta(days=1))
    due = db.session.scalars(
        select(Booking)
        .join(Event)
        .where(
            Event.starts_at >= start,
            Event.starts_at < end,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.reminder_sent_at.is_(None),
        )  # fmt: skip
        .order_by(Booking.id)
    ).all()
    for booking in due:
        services.send_booking_email(booking, "event_reminder", dedupe=f"event-reminder-{booking.id}")
        booking.reminder_sent_at = now
    db.session.flush()
    return len(due)
