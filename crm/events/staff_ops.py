"""What staff do with an event's bookings: check people in, export the list, message the booked."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from crm.audit import services as audit
from crm.core.csv_export import csv_lines
from crm.core.types import utcnow
from crm.events import services
from crm.events.localtime import to_local
from crm.events.models import HOLDING_STATUSES, Booking, BookingPlace, BookingStatus, Event
from crm.extensions import db

EXPORT_HEADER = [
    "booking",
    "status",
    "booker",
    "email",
    "place name",
    "checked in (UK time)",
    "amount (pence)",
]


def event_bookings(event: Event) -> list[Booking]:
    return list(db.session.scalars(select(Booking).where(Booking.event_id == event.id).order_by(Booking.id)))


def place_for_event(event: Event, place_id: int) -> BookingPlace | None:
    """A place of a confirmed booking of this event (None for another event's place: a 404)."""
    return db.session.scalar(
        select(BookingPlace)
        .join(Booking)
        .where(
            BookingPlace.id == place_id,
            Booking.event_id == event.id,
            Booking.status == BookingStatus.CONFIRMED,
        )  # fmt: skip
    )


def check_in(place: BookingPlace) -> bool:
    if place.checked_in_at is not None:
        return False
    place.checked_in_at = utcnow()
    audit.record("event.check_in", target_type="event_booking_place", target_id=place.id,
                 contact_id=place.booking.contact_id, detail=place.name)  # fmt: skip
    db.session.flush()
    return True


def export_lines(event: Event) -> Iterator[str]:
    """The bookings as CSV, one row per place, every cell formula-safe (crm.staff.exports)."""
    audit.record("export.event_bookings", target_type="event", target_id=event.id)

    def rows() -> Iterator[list[object]]:
        for booking in event_bookings(event):
            for place in booking.attendees:
                checked = (
                    to_local(place.checked_in_at).strftime("%Y-%m-%d %H:%M") if place.checked_in_at else ""
                )
                yield [
                    booking.id,
                    booking.status,
                    booking.name,
                    booking.email,
                    place.name,
                    checked,
                    booking.amount,
                ]

    return csv_lines(EXPORT_HEADER, rows())


def message_bookers(event: Event, *, subject: str, body: str) -> int:
    """Queue one email per booking holding places (through the outbox); returns how many."""
    sent = 0
    for booking in event_bookings(event):
        if booking.status in HOLDING_STATUSES:
            services.send_booking_email(booking, "event_message", subject=subject, body=body)
            sent += 1
    audit.record(
        "event.message", target_type="event", target_id=event.id, detail=f"{subject} ({sent} bookings)"
    )
    return sent
