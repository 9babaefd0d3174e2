"""Event and booking rules: saving events, booking places, the waiting list, paying, cancelling.

Waiting list: a freed place is given to the waiting list automatically, in order. The first
booking still waiting gets it when all its places fit (nobody behind it jumps the queue). For a
free event it becomes confirmed at once and its booker gets an email; for a paid event its places
are held and its booker gets an email with a link to pay (confirmed by the webhook as usual).
Held places are not held for ever: a booking still unpaid EVENT_HOLD_HOURS (default 48) after
its places were held is released by the daily run (release_expired_holds), its booker is told,
and the places go to the next in line. Services flush; the caller commits.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from crm.audit import services as audit
from crm.contacts.services import email_key
from crm.core.database import locked_for_update
from crm.core.markup import render_markdown
from crm.core.text import counted
from crm.core.types import utcnow
from crm.email.services import queue_email
from crm.events.localtime import format_local
from crm.events.models import HOLDING_STATUSES, Booking, BookingPlace, BookingStatus, Event, Visibility
from crm.extensions import db

log = logging.getLogger("crm.events")

MAX_PLACES_PER_BOOKING = 10
_TOKEN_SALT = "crm.events.booking"  # noqa: S105  (a salt, not a secret)


class BookingRefused(Exception):
    """A booking or change that the rules do not allow; the message says why, for the person."""


@dataclass(frozen=True)
class EventData:
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    place: str
    online_link: str
    capacity: int
    visibility: str
    member_price: int
    other_price: int
    published: bool
    kind: str = "event"
    #: The optional Spanish version (blank: Spanish readers get the English).
    title_es: str = ""
    description_es: str = ""


def slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80] or "event"
    candidate, n = slug, 2
    while db.session.scalar(select(Event.id).where(Event.slug == candidate)) is not None:
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


def held_places(event_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Booking.places), 0)).where(
                Booking.event_id == event_id, Booking.status.in_(HOLDING_STATUSES)
            )
        )
        or 0
    )


def places_left(event: Event) -> int | None:
    """None when the event has no limit."""
    if not event.capacity:
        return None
    return max(event.capacity - held_places(event.id), 0)


def save_event(event: Event | None, data: EventData) -> Event:
    """Create or update an event; lowering the capacity below the places booked is refused."""
    if data.ends_at <= data.starts_at:
        raise BookingRefused("The end must be after the start.")
    if event is not None and data.capacity:
        event = locked_for_update(Event, event.id)
        booked = held_places(event.id)
        if data.capacity < booked:
            raise BookingRefused(
                f"{booked} places are already booked: the capacity cannot be lower than that."
            )
    before = None if event is None else {"capacity": event.capacity, "title": event.title}
    if event is None:
        event = Event(slug=slugify(data.title), kind=data.kind)
        db.session.add(event)
    event.title = data.title
    event.description_markdown = data.description
    event.description_html = render_markdown(data.description)
    event.title_es = data.title_es.strip()
    event.description_markdown_es = data.description_es.strip()
    event.description_html_es = (
        render_markdown(event.description_markdown_es) if event.description_markdown_es else ""
    )
    event.starts_at, event.ends_at = data.starts_at, data.ends_at
    event.place, event.online_link = data.place, data.online_link
    event.capacity, event.visibility = data.capacity, data.visibility
    event.member_price, event.other_price = data.member_price, data.other_price
    event.published = data.published
    db.session.flush()
    audit.record("event.save", target_type="event", target_id=event.id, before=before,
                 after={"capacity": event.capacity, "title": event.title})  # fmt: skip
    if before is not None:
        promote_waiting(event)
    return event


def visible_events(*, members: bool, upcoming_only: bool = True) -> list[Event]:
    query = select(Event).where(Event.published.is_(True))
    if not members:
        query = query.where(Event.visibility == Visibility.PUBLIC)
    if upcoming_only:
        query = query.where(Event.ends_at >= utcnow())
    return list(db.session.scalars(query.order_by(Event.starts_at)))


def price_per_place(event: Event, *, is_member: bool) -> int:
    return event.member_price if is_member else event.other_price


# --- tokens ----------------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_TOKEN_SALT)


def booking_token(booking: Booking) -> str:
    return _serializer().dumps({"b": booking.id})


def booking_for_token(token: str) -> Booking | None:
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("b"), int):
        return None
    return db.session.get(Booking, data["b"])


def booking_url(booking: Booking) -> str:
    return f"{current_app.config['BASE_URL']}/events/bookings/{booking_token(booking)}"


# --- booking ---------------------------------------------------------------------------------------


def book(
    event: Event,
    *,
    email: str,
    names: list[str],
    contact_id: int | None,
    is_member: bool,
) -> Booking:
    """Book places (or join the waiting list when they do not all fit). The event row is locked
    first, so two people booking the last place at once get one place and one waiting entry."""
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        raise BookingRefused(gettext("Enter a name for each place."))
    if len(names) > MAX_PLACES_PER_BOOKING:
        raise BookingRefused(
            gettext("You can book up to %(num)d places at once.", num=MAX_PLACES_PER_BOOKING)
        )
    if event.visibility == Visibility.MEMBERS and not is_member:
        raise BookingRefused(gettext("This event is for members: please sign in with a current membership."))
    if event.ends_at < utcnow():
        raise BookingRefused(gettext("This event has finished."))
    event = locked_for_update(Event, event.id)
    price = price_per_place(event, is_member=is_member)
    fits = not event.capacity or held_places(event.id) + len(names) <= event.capacity
    if not fits:
        status = BookingStatus.WAITING
    elif price:
        status = BookingStatus.PENDING_PAYMENT
    else:
        status = BookingStatus.CONFIRMED
    booking = Booking(event_id=event.id, contact_id=contact_id, email=email_key(email), name=names[0],
                      places=len(names), status=status, amount=price * len(names),
                      held_at=utcnow() if status == BookingStatus.PENDING_PAYMENT else None)  # fmt: skip
    booking.attendees = [BookingPlace(name=n[:200]) for n in names]
    db.session.add(booking)
    db.session.flush()
    if status == BookingStatus.CONFIRMED:
        _confirm(booking)
    elif status == BookingStatus.WAITING:
        send_booking_email(booking, "event_waiting_list")
    return booking


def _confirm(booking: Booking) -> None:
    booking.status = BookingStatus.CONFIRMED
    booking.confirmed_at = utcnow()
    db.session.flush()
    send_booking_email(booking, "event_booking_confirmed", dedupe=f"event-booking-confirmed-{booking.id}")


def confirm_paid(booking: Booking) -> None:
    """The webhook saw the booking's full price paid (crm.events.payments.fulfil_booking)."""
    _confirm(booking)
    audit.record("event.booking_paid", target_type="event_booking", target_id=booking.id,
                 contact_id=booking.contact_id, actor_label="stripe", detail=f"{booking.amount} pence")  # fmt: skip


def send_booking_email(booking: Booking, kind: str, dedupe: str | None = None, **extra: Any) -> None:
    """templates/email/<kind>.txt to the booker, with their booking's links."""
    event = booking.event
    queue_email(
        booking.email,
        kind,
        {"booking": booking, "event": event, "when": format_local(event.starts_at),
         "manage_url": booking_url(booking), "ics_url": f"{booking_url(booking)}/event.ics", **extra},
        contact_id=booking.contact_id,
        dedupe_key=dedupe,
    )  # fmt: skip


def cancel_booking(booking: Booking, *, by: str) -> bool:
    """Cancel a booking (by its booker or by staff) and give the places to the waiting list."""
    event = locked_for_update(Event, booking.event_id)
    db.session.refresh(booking)
    if booking.status == BookingStatus.CANCELLED:
        return False
    was_holding = booking.status in HOLDING_STATUSES
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = utcnow()
    db.session.flush()
    audit.record("event.booking_cancel", target_type="event_booking", target_id=booking.id,
                 contact_id=booking.contact_id, detail=f"by {by}; {counted(booking.places, 'place')}")  # fmt: skip
    send_booking_email(booking, "event_booking_cancelled")
    if was_holding:
        promote_waiting(event)
    return True


def hold_hours() -> int:
    return int(current_app.config.get("EVENT_HOLD_HOURS", 48))


def hold_expires_at(booking: Booking) -> datetime | None:
    """When the daily run may release an unpaid booking's places (None when nothing is held)."""
    if booking.status != BookingStatus.PENDING_PAYMENT or booking.held_at is None:
        return None
    return booking.held_at + timedelta(hours=hold_hours())


def release_expired_holds(now: datetime) -> int:
    """Release the places of bookings still unpaid hold_hours() after they were held, tell their
    bookers, and offer the places to the waiting list. A payment that arrives later is kept as a
    payment to refund (crm.events.payments.fulfil_booking), not a place."""
    cutoff = now - timedelta(hours=hold_hours())
    expired = db.session.scalars(
        select(Booking).where(Booking.status == BookingStatus.PENDING_PAYMENT, Booking.held_at < cutoff)
        .order_by(Booking.id)
    ).all()  # fmt: skip
    released = 0
    for booking in expired:
        event = locked_for_update(Event, booking.event_id)
        db.session.refresh(booking)
        if booking.status != BookingStatus.PENDING_PAYMENT:  # paid (or cancelled) meanwhile
            continue
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = now
        db.session.flush()
        audit.record("event.hold_released", target_type="event_booking", target_id=booking.id,
                     contact_id=booking.contact_id, actor_label="system",
                     detail=f"unpaid {hold_hours()} hours; {counted(booking.places, 'place')}")  # fmt: skip
        send_booking_email(booking, "event_hold_released", dedupe=f"event-hold-released-{booking.id}",
                           hold_hours=hold_hours())  # fmt: skip
        promote_waiting(event)
        released += 1
    return released


def promote_waiting(event: Event) -> list[Booking]:
    """Give freed places to the waiting list in order (see the module docstring)."""
    promoted: list[Booking] = []
    waiting = db.session.scalars(
        select(Booking)
        .where(Booking.event_id == event.id, Booking.status == BookingStatus.WAITING)
        .order_by(Booking.id)
    ).all()
    for booking in waiting:
        left = places_left(event)
        if left is not None and booking.places > left:
            break
        if booking.amount:
            booking.status = BookingStatus.PENDING_PAYMENT
            booking.held_at = utcnow()
            db.session.flush()
            send_booking_email(booking, "event_place_offered", dedupe=f"event-place-offered-{booking.id}",
                               hold_hours=hold_hours())  # fmt: skip
        else:
            _confirm(booking)
        audit.record("event.waiting_list_promote", target_type="event_booking", target_id=booking.id,
                     contact_id=booking.contact_id, actor_label="system")  # fmt: skip
        promoted.append(booking)
    return promoted


def bookings_for_contact(contact_id: int) -> list[Booking]:
    return list(
        db.session.scalars(
            select(Booking)
            .join(Event)
            .where(
                Booking.contact_id == contact_id,
                Booking.status != BookingStatus.CANCELLED,
                Event.ends_at >= utcnow(),
            )  # fmt: skip
            .order_by(Event.starts_at)
        )
    )


def has_confirmed_booking(event: Event, contact_id: int | None) -> bool:
    if contact_id is None:
        return False
    return (
        db.session.scalar(
            select(Booking.id)
            .where(
                Booking.event_id == event.id,
                Booking.contact_id == contact_id,
                Booking.status == BookingStatus.CONFIRMED,
            )
            .limit(1)  # fmt: skip
        )
        is not None
    )
