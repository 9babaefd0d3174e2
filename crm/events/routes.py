"""Public event pages: the list, one event, .ics downloads and feed, booking and cancelling."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from crm.billing.stripe_gateway import GatewayError
from crm.events import ics, payments, services
from crm.events.forms import ActionForm, BookingForm
from crm.events.localtime import format_local, format_local_end
from crm.events.models import Booking, BookingStatus, Event, Visibility, booking_status_name
from crm.events.reminders import queue_event_reminders
from crm.extensions import db, login_manager
from crm.members_area.access import has_access
from crm.memberships.daily import register_daily_step

bp = Blueprint("events", __name__)
# The day-before reminders run with the daily run (crm daily).
bp.record_once(
    lambda state: register_daily_step(state.app, "event_reminders", queue_event_reminders, order=10)
)
bp.record_once(
    lambda state: register_daily_step(
        state.app, "event_holds_released", services.release_expired_holds, order=11
    )
)


def _viewer() -> tuple[int | None, bool]:
    """(the signed-in person's contact id, whether they are a member in good standing)."""
    if not current_user.is_authenticated or current_user.contact_id is None:
        return None, False
    staff = current_user.role in ("editor", "staff", "admin")
    return current_user.contact_id, staff or has_access(current_user.contact_id)


bp.add_app_template_global(format_local_end, "event_end")
bp.add_app_template_filter(booking_status_name, "booking_status")


@bp.app_template_global("member_events_summary")
def member_events_summary(contact_id: int) -> dict[str, object]:
    """For the member home: their upcoming bookings (with links) and motions they can vote on now."""
    from crm.events import agm

    bookings = services.bookings_for_contact(contact_id)
    return {"bookings": [(b, url_for("events.booking", token=services.booking_token(b)), format_local(b.event.starts_at))
                         for b in bookings],
            "votes": agm.open_votes_for(contact_id)}  # fmt: skip


def _event_or_404(slug: str) -> Event:
    event = db.session.scalar(select(Event).where(Event.slug == slug, Event.published.is_(True)))
    if event is None:
        abort(404)
    return event


def _calendar_response(text: str, filename: str) -> Response:
    response = Response(text, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/events")
def index():
    _, is_member = _viewer()
    return render_template("events/index.html", events=services.visible_events(members=is_member),
                           when=format_local, price_for=lambda e: services.price_per_place(e, is_member=is_member))  # fmt: skip


@bp.get("/events/feed.ics")
def feed():
    return _calendar_response(ics.calendar(services.visible_events(members=False)), "events.ics")


@bp.get("/events/<slug>")
def event(slug: str):
    found = _event_or_404(slug)
    contact_id, is_member = _viewer()
    form = BookingForm()
    if current_user.is_authenticated and not form.email.data:
        form.email.data = current_user.email
    return _event_page(found, form, contact_id, is_member)


def _event_page(found: Event, form: BookingForm, contact_id: int | None, is_member: bool, status: int = 200):
    return render_template(
        "events/event.html", event=found, form=form, when=format_local, places_left=services.places_left(found),
        price=services.price_per_place(found, is_member=is_member), is_member=is_member,
        booked=services.has_confirmed_booking(found, contact_id),
        needs_sign_in=found.visibility == Visibility.MEMBERS and not is_member,
    ), status  # fmt: skip


@bp.get("/events/<slug>/event.ics")
def event_ics(slug: str):
    found = _event_or_404(slug)
    contact_id, _ = _viewer()
    text = ics.calendar([found], with_link=services.has_confirmed_booking(found, contact_id))
    return _calendar_response(text, f"{found.slug}.ics")


@bp.get("/events/<slug>/add-to/<calendar>")
def add_to_calendar(slug: str, calendar: str):
    """Off to Google's or Outlook's "new event" page (our pages link only to our own site)."""
    found = _event_or_404(slug)
    urls = {"google": ics.google_calendar_url, "outlook": ics.outlook_calendar_url}
    if calendar not in urls:
        abort(404)
    return Response("", status=302, headers={"Location": urls[calendar](found)}, mimetype="text/plain")


@bp.post("/events/<slug>/book")
def book(slug: str):
    found = _event_or_404(slug)
    contact_id, is_member = _viewer()
    if found.visibility == Visibility.MEMBERS and not current_user.is_authenticated:
        return login_manager.unauthorized()
    form = BookingForm()
    if not form.validate_on_submit():
        return _event_page(found, form, contact_id, is_member, 400)
    try:
        booking = services.book(found, email=form.email.data, names=[f.data or "" for f in form.names],
                                contact_id=contact_id, is_member=is_member)  # fmt: skip
        checkout = (
            payments.start_booking_checkout(booking)
            if booking.status == BookingStatus.PENDING_PAYMENT
            else None
        )
    except services.BookingRefused as refused:
        db.session.rollback()
        form.form_errors.append(str(refused))
        return _event_page(found, form, contact_id, is_member, 400)
    except GatewayError:
        db.session.rollback()
        form.form_errors.append(_("We could not reach our payment provider. Please try again in a minute."))
        return _event_page(found, form, contact_id, is_member, 503)
    db.session.commit()
    if checkout:
        return redirect(checkout, code=303)
    return redirect(services.booking_url(booking), code=303)


def _booking_or_404(token: str) -> Booking:
    booking = services.booking_for_token(token)
    if booking is None:
        abort(404)
    return booking


@bp.get("/events/bookings/<token>")
def booking(token: str):
    found = _booking_or_404(token)
    return render_template("events/booking.html", booking=found, event=found.event, token=token,
                           when=format_local, form=ActionForm(), paid_return=request.args.get("paid") == "1",
                           held_until=services.hold_expires_at(found))  # fmt: skip


@bp.get("/events/bookings/<token>/event.ics")
def booking_ics(token: str):
    found = _booking_or_404(token)
    confirmed = found.status == BookingStatus.CONFIRMED
    return _calendar_response(ics.calendar([found.event], with_link=confirmed), f"{found.event.slug}.ics")


@bp.post("/events/bookings/<token>/pay")
def pay(token: str):
    found = _booking_or_404(token)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        url = payments.start_booking_checkout(found)
    except services.BookingRefused as refused:
        flash(str(refused), "info")
        return redirect(url_for("events.booking", token=token), code=303)
    except GatewayError:
        db.session.rollback()
        flash(_("We could not reach our payment provider. Please try again in a minute."), "error")
        return redirect(url_for("events.booking", token=token), code=303)
    db.session.commit()
    return redirect(url, code=303)


@bp.post("/events/bookings/<token>/cancel")
def cancel(token: str):
    found = _booking_or_404(token)
    if not ActionForm().validate_on_submit():
        abort(400)
    if services.cancel_booking(found, by="booker"):
        flash(_("Your booking is cancelled."), "success")
    db.session.commit()
    return redirect(url_for("events.booking", token=token), code=303)


from crm.events import agm_routes  # noqa: E402,F401  (registers the AGM pages on `bp`)
