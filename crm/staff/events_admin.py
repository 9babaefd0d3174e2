"""Staff pages for events: create and edit, the bookings, phone check-in, CSV, message the booked."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, stream_with_context, url_for

from crm.core.permissions import requires
from crm.core.text import counted
from crm.events import services, staff_ops
from crm.events.forms import ActionForm, EventForm, MessageForm
from crm.events.localtime import format_local, to_local, to_utc
from crm.events.models import BookingStatus, Event
from crm.extensions import db
from crm.staff.routes import bp


def _event_or_404(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        abort(404)
    return event


@bp.get("/events")
@requires("events")
def events_list():
    from sqlalchemy import select

    events = db.session.scalars(select(Event).order_by(Event.starts_at.desc())).all()
    return render_template(
        "staff/events/list.html", events=events, when=format_local, held=services.held_places
    )


def _data(form: EventForm) -> services.EventData | None:
    member_price, other_price = form.price_pence(form.member_price), form.price_pence(form.other_price)
    if member_price is None or other_price is None:
        return None
    return services.EventData(
        title=form.title.data, description=form.description.data or "", starts_at=to_utc(form.starts_at.data),
        ends_at=to_utc(form.ends_at.data), place=form.place.data or "", online_link=form.online_link.data or "",
        capacity=form.capacity.data or 0, visibility=form.visibility.data, member_price=member_price,
        other_price=other_price, published=form.published.data, title_es=form.title_es.data or "",
        description_es=form.description_es.data or "",
    )  # fmt: skip


def _edit(event: Event | None, kind: str = "event"):
    form = EventForm(obj=event)
    if event is not None and not form.is_submitted():
        form.description.data = event.description_markdown
        form.description_es.data = event.description_markdown_es
        form.starts_at.data = to_local(event.starts_at).replace(tzinfo=None)
        form.ends_at.data = to_local(event.ends_at).replace(tzinfo=None)
        form.member_price.data = f"{event.member_price / 100:.2f}" if event.member_price else ""
        form.other_price.data = f"{event.other_price / 100:.2f}" if event.other_price else ""
    if form.validate_on_submit() and (data := _data(form)) is not None:
        try:
            saved = services.save_event(
                event, data if event else services.EventData(**{**data.__dict__, "kind": kind})
            )
        except services.BookingRefused as refused:
            db.session.rollback()
            form.form_errors.append(str(refused))
        else:
            db.session.commit()
            flash("Event saved.", "success")
            return redirect(url_for("staff.event_bookings", event_id=saved.id), code=303)
    return render_template("staff/events/edit.html", form=form, event=event)


@bp.route("/events/new", methods=["GET", "POST"])
@requires("events")
def event_new():
    return _edit(None)


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@requires("events")
def event_edit(event_id: int):
    return _edit(_event_or_404(event_id))


@bp.get("/events/<int:event_id>")
@requires("events")
def event_bookings(event_id: int):
    event = _event_or_404(event_id)
    return render_template("staff/events/bookings.html", event=event, bookings=staff_ops.event_bookings(event),
                           when=format_local, held=services.held_places(event.id), message_form=MessageForm())  # fmt: skip


@bp.get("/events/<int:event_id>/check-in")
@requires("events")
def event_check_in(event_id: int):
    event = _event_or_404(event_id)
    bookings = [b for b in staff_ops.event_bookings(event) if b.status == BookingStatus.CONFIRMED]
    return render_template("staff/events/check_in.html", event=event, bookings=bookings, form=ActionForm(),
                           when=format_local)  # fmt: skip


@bp.post("/events/<int:event_id>/check-in/<int:place_id>")
@requires("events")
def event_check_in_place(event_id: int, place_id: int):
    event = _event_or_404(event_id)
    place = staff_ops.place_for_event(event, place_id)
    if place is None or not ActionForm().validate_on_submit():
        abort(404 if place is None else 400)
    if staff_ops.check_in(place):
        flash(f"{place.name} is checked in.", "success")
    db.session.commit()
    return redirect(url_for("staff.event_check_in", event_id=event.id) + f"#place-{place.id}", code=303)


@bp.get("/events/<int:event_id>/bookings.csv")
@requires("export")
def event_bookings_export(event_id: int):
    event = _event_or_404(event_id)
    lines = list(staff_ops.export_lines(event))
    db.session.commit()  # the export's audit row
    response = Response(stream_with_context(iter(lines)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{event.slug}-bookings.csv"'
    return response


@bp.post("/events/<int:event_id>/message")
@requires("events")
def event_message(event_id: int):
    event = _event_or_404(event_id)
    form = MessageForm()
    if not form.validate_on_submit():
        flash("Enter a subject and a message.", "error")
        return redirect(url_for("staff.event_bookings", event_id=event.id), code=303)
    sent = staff_ops.message_bookers(event, subject=form.subject.data, body=form.body.data)
    db.session.commit()
    flash(f"Message queued for {counted(sent, 'booking')}.", "success")
    return redirect(url_for("staff.event_bookings", event_id=event.id), code=303)


@bp.post("/events/<int:event_id>/bookings/<int:booking_id>/cancel")
@requires("events")
def event_booking_cancel(event_id: int, booking_id: int):
    from crm.events.models import Booking

    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.event_id != event_id or not ActionForm().validate_on_submit():
        abort(404)
    services.cancel_booking(booking, by="staff")
    db.session.commit()
    return redirect(url_for("staff.event_bookings", event_id=event_id), code=303)


from crm.staff import agm_admin  # noqa: E402,F401  (the AGM's staff pages)
