"""Paying for a booking: the Checkout Session, and the webhook that alone confirms it."""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import gettext

from crm.billing import events as billing_events
from crm.billing import stripe_gateway as gateway
from crm.billing.models import PaymentKind
from crm.billing.services import queue_receipt, record_stripe_payment
from crm.contacts.models import Contact
from crm.contacts.sources import ContactSource
from crm.core.database import locked_for_update
from crm.core.types import utcnow
from crm.events import services
from crm.events.models import Booking, BookingStatus
from crm.extensions import db

log = logging.getLogger("crm.events.payments")

#: metadata["kind"] of our booking sessions; the webhook dispatches on it (crm/billing/events.py).
BOOKING_KIND = "event_booking"


def start_booking_checkout(booking: Booking) -> str:
    """The hosted payment page's URL for a booking whose places are held (reused if already made)."""
    if booking.status != BookingStatus.PENDING_PAYMENT:
        raise services.BookingRefused(gettext("This booking is not waiting for payment."))
    if booking.checkout_url:
        return booking.checkout_url
    from crm.join.services import find_or_create_contact

    contact = db.session.get(Contact, booking.contact_id) if booking.contact_id else None
    if contact is None:
        first, _, last = booking.name.partition(" ")
        contact = find_or_create_contact(
            booking.email, {"first_name": first, "last_name": last}, source=ContactSource.EVENT
        )
        booking.contact_id = contact.id
    base = current_app.config["BASE_URL"]
    manage = services.booking_url(booking)
    session = gateway.create_booking_checkout_session(
        customer_id=gateway.ensure_customer(contact),
        description=f"{booking.event.title}: place",
        unit_amount=booking.amount // booking.places,
        quantity=booking.places,
        currency=booking.event.currency,
        metadata={"kind": BOOKING_KIND, "booking_id": str(booking.id), "contact_id": str(contact.id)},
        success_url=f"{manage}?paid=1",
        cancel_url=f"{base}/events/{booking.event.slug}",
        idempotency_key=f"event-booking-{booking.id}-{booking.amount}",
    )
    booking.stripe_checkout_session_id = session.id
    booking.checkout_url = session.url
    db.session.flush()
    return session.url


def is_booking_session(session: gateway.CheckoutResult) -> bool:
    return session.kind == BOOKING_KIND


def fulfil_booking(session: gateway.CheckoutResult, *, stripe_event_id: str | None = None) -> str:
    """Confirm the booking a paid session is for, once, when the amount paid is the booking's
    price: 'confirmed', 'already', 'unpaid', 'mismatch' or 'ignored'."""
    if not session.collected:
        return "unpaid"
    try:
        booking_id = session.number("booking_id")
    except ValueError:
        return "ignored"
    booking = locked_for_update(Booking, booking_id) if booking_id else None
    if booking is None or booking.stripe_checkout_session_id != session.id:
        return "ignored"
    amount = session.amount_total
    if amount != booking.amount or session.currency != booking.event.currency:
        log.error("booking %s: paid %s %s, expected %s", booking.id, amount, session.currency, booking.amount)
        return "mismatch"
    if booking.contact_id:
        payment, created = record_stripe_payment(
            contact_id=booking.contact_id, membership_id=None, kind=PaymentKind.EVENT, amount=amount,
            currency=booking.event.currency, paid_at=session.created or utcnow(),
            payment_intent_id=session.payment_intent_id, checkout_session_id=session.id,
        )  # fmt: skip
        if created:
            queue_receipt(payment)
    if booking.status == BookingStatus.CONFIRMED:
        return "already"
    if booking.status != BookingStatus.PENDING_PAYMENT:
        # Paid after it was cancelled: kept as a payment for staff to refund, not a place.
        log.warning("booking %s paid while %s", booking.id, booking.status)
        return "ignored"
    booking.amount_paid = amount
    services.confirm_paid(booking)
    return "confirmed"


def init_app() -> None:
    """Register booking sessions with the webhook's checkout registry (called by create_app)."""
    billing_events.register_checkout(BOOKING_KIND)(fulfil_booking)
