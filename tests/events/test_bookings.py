"""Events and bookings as people meet them: the pages, the .ics, booking, the waiting list,
cancelling, paying through the Stripe sandbox, and staff lowering the capacity."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.billing import stripe_gateway
from crm.billing.models import Payment
from crm.email.models import OutboxMessage
from crm.events import services
from crm.events.models import Booking, BookingStatus
from crm.extensions import db
from crm.memberships import lifecycle
from tests.events.conftest import book_form, make_event
from tests.fixtures import make_user, sign_in_as
from tests.memberships.factories import make_plan
from tests.stripe_fixtures import deliver_webhooks


def outbox(kind: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id))
    )


def manage_link(message: OutboxMessage) -> str:
    match = re.search(r"http://[^/\s]+(/events/bookings/[\w.\-]+)\s", message.body_text)
    assert match, message.body_text
    return match.group(1)


def make_member(email: str = "mo@example.org"):  # type: ignore[no-untyped-def]
    user = make_user(email, "member", first_name="Mo", last_name="Member")
    lifecycle.grant_complimentary(user.contact, make_plan(f"plan-{email[:4]}"), actor=None)
    db.session.commit()
    return user


def test_the_event_page_shows_uk_time_sanitised_text_and_calendar_links(client, app):
    from datetime import UTC, datetime

    event = make_event(
        starts_at=datetime(2030, 7, 1, 18, 30, tzinfo=UTC), online_link="https://meet.example.org/x"
    )
    html = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert "Mon 1 Jul 2030, 7:30pm" in html  # 18:30 UTC is 19:30 in London in summer
    assert "<em>good</em>" in html and "<script>alert" not in html
    assert "https://meet.example.org/x" not in html  # the link is for the booked only
    google = client.get(f"/events/{event.slug}/add-to/google")
    assert google.status_code == 302 and google.headers["Location"].startswith("https://calendar.google.com/")
    assert (
        client.get(f"/events/{event.slug}/add-to/outlook")
        .headers["Location"]
        .startswith("https://outlook.live.com/")
    )
    assert event.title in client.get("/events").get_data(as_text=True)


def test_ics_download_and_feed_are_valid_icalendar(client, app):
    event = make_event("Talk; with, commas and a very long title that needs folding past seventy five octets")
    response = client.get(f"/events/{event.slug}/event.ics")
    assert response.headers["Content-Type"].startswith("text/calendar")
    body = response.get_data(as_text=True)
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    unfolded = body.replace("\r\n ", "")
    assert "SUMMARY:Talk\\; with\\, commas" in unfolded
    assert "DTSTART:" in unfolded and "BEGIN:VEVENT" in client.get("/events/feed.ics").get_data(as_text=True)


def test_booking_two_named_places_at_a_free_event_confirms_and_emails(client, app):
    event = make_event(capacity=10)
    response = client.post(
        f"/events/{event.slug}/book", data=book_form("vi@example.org", "Vi Visitor", "Sam Friend")
    )
    assert response.status_code == 303
    booking = db.session.scalar(select(Booking))
    assert (booking.status, booking.places, [p.name for p in booking.attendees]) == (
        "confirmed", 2, ["Vi Visitor", "Sam Friend"])  # fmt: skip
    [mail] = outbox("event_booking_confirmed")
    assert mail.to_email == "vi@example.org" and "/event.ics" in mail.body_text
    assert "Confirmed" in client.get(manage_link(mail)).get_data(as_text=True)


def test_a_full_event_puts_the_next_person_on_the_waiting_list_and_a_cancellation_gives_them_the_place(
    client, app
):
    event = make_event(capacity=1)
    client.post(f"/events/{event.slug}/book", data=book_form("first@example.org", "First"))
    client.post(f"/events/{event.slug}/book", data=book_form("second@example.org", "Second"))
    statuses = dict(db.session.execute(select(Booking.email, Booking.status)).all())
    assert statuses == {"first@example.org": "confirmed", "second@example.org": "waiting"}
    [confirmation] = outbox("event_booking_confirmed")
    client.post(manage_link(confirmation) + "/cancel")
    db.session.expire_all()
    statuses = dict(db.session.execute(select(Booking.email, Booking.status)).all())
    assert statuses == {"first@example.org": "cancelled", "second@example.org": "confirmed"}
    assert [m.to_email for m in outbox("event_booking_confirmed")] == [
        "first@example.org",
        "second@example.org",
    ]


def test_a_forged_cancel_link_is_404_and_changes_nothing(client, app):
    event = make_event()
    client.post(f"/events/{event.slug}/book", data=book_form())
    assert client.post("/events/bookings/eyJiIjoxfQ.forged/cancel").status_code == 404
    assert db.session.scalar(select(Booking.status)) == "confirmed"


def test_members_only_events_ask_visitors_to_sign_in(client, app):
    event = make_event(visibility="members")
    assert "Sign in</a> to book" in client.get(f"/events/{event.slug}").get_data(as_text=True)
    response = client.post(f"/events/{event.slug}/book", data=book_form())
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0
    assert event.title not in client.get("/events").get_data(as_text=True)


def test_a_member_pays_the_members_price_and_only_the_webhook_confirms(client, app, stripe_sandbox):
    member = make_member()
    sign_in_as(client, member)
    event = make_event("Benefit gig", capacity=50, member_price=500, other_price=800)
    response = client.post(
        f"/events/{event.slug}/book", data=book_form("mo@example.org", "Mo Member", "Guest")
    )
    assert response.status_code == 303 and response.headers["Location"].startswith("http")
    booking = db.session.scalar(select(Booking))
    assert (booking.status, booking.amount) == ("pending_payment", 1000)
    [session] = stripe_sandbox.find("checkout.session")
    assert session["mode"] == "payment" and session["amount_total"] == 1000
    assert outbox("event_booking_confirmed") == []
    stripe_sandbox.pay(session["id"])
    assert all(r.status_code == 200 for r in deliver_webhooks(client, duplicate=True))
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "confirmed"
    assert len(outbox("event_booking_confirmed")) == 1
    payment = db.session.scalar(select(Payment))
    assert (payment.kind, payment.amount, payment.contact_id) == ("event", 1000, member.contact_id)


def test_a_session_whose_amount_differs_from_the_price_confirms_nothing(app, stripe_sandbox):
    from crm.events.payments import fulfil_booking

    event = make_event("Gig", other_price=800)
    booking = services.book(event, email="vi@example.org", names=["Vi"], contact_id=None, is_member=False)
    booking.stripe_checkout_session_id = "cs_forged"
    session = {"id": "cs_forged", "payment_status": "paid", "amount_total": 1, "currency": "gbp",
               "metadata": {"kind": "event_booking", "booking_id": str(booking.id)}}  # fmt: skip
    assert fulfil_booking(stripe_gateway.checkout_result(session)) == "mismatch"
    assert booking.status == BookingStatus.PENDING_PAYMENT


def test_capacity_cannot_be_lowered_below_the_places_booked(app):
    event = make_event(capacity=5)
    services.book(event, email="a@example.org", names=["A", "B", "C"], contact_id=None, is_member=False)
    db.session.commit()
    data = services.EventData(title=event.title, description="", starts_at=event.starts_at, ends_at=event.ends_at,
                              place="", online_link="", capacity=2, visibility="public", member_price=0,
                              other_price=0, published=True)  # fmt: skip
    with pytest.raises(services.BookingRefused, match="3 places are already booked"):
        services.save_event(event, data)


def test_two_people_booking_the_last_place_at_once_get_one_place_and_one_waiting_entry(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers; the row lock is what PostgreSQL needs")
    event = make_event(capacity=1)
    event_id = event.id
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def attempt(email: str) -> None:
        try:
            with app.app_context():
                found = db.session.get(type(event), event_id)
                barrier.wait()
                services.book(found, email=email, names=[email], contact_id=None, is_member=False)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(f"p{i}@example.org",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Booking.status))) == ["confirmed", "waiting"]


def test_the_member_home_lists_my_bookings(client, app):
    member = make_member()
    sign_in_as(client, member)
    event = make_event("Delegation report-back")
    client.post(f"/events/{event.slug}/book", data=book_form("mo@example.org", "Mo Member"))
    html = client.get("/account").get_data(as_text=True)
    assert "My bookings" in html and "Delegation report-back" in html and "Vote now" not in html


def test_the_reminder_goes_the_day_before_once(app, client):
    from datetime import timedelta

    import time_machine

    from crm.memberships.daily import run_daily

    event = make_event("Tomorrow's talk")
    client.post(f"/events/{event.slug}/book", data=book_form())
    with time_machine.travel(event.starts_at - timedelta(days=3)):
        run_daily()
    assert outbox("event_reminder") == []
    with time_machine.travel(event.starts_at - timedelta(days=1)):
        assert run_daily()["event_reminders"] == 1
        assert run_daily()["event_reminders"] == 0
    assert len(outbox("event_reminder")) == 1


def test_staff_check_in_export_and_message(app, client, staff_client):
    event = make_event(capacity=5)
    client.post(f"/events/{event.slug}/book", data=book_form("vi@example.org", "=HYPERLINK(1)", "Sam"))
    booking = db.session.scalar(select(Booking))
    place = booking.attendees[0]
    assert "Check in" in staff_client.get(f"/staff/events/{event.id}/check-in").get_data(as_text=True)
    staff_client.post(f"/staff/events/{event.id}/check-in/{place.id}")
    db.session.expire_all()
    assert db.session.get(type(place), place.id).checked_in_at is not None
    assert staff_client.post(f"/staff/events/{event.id + 99}/check-in/{place.id}").status_code == 404
    csv_text = staff_client.get(f"/staff/events/{event.id}/bookings.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in csv_text and "Sam" in csv_text
    staff_client.post(
        f"/staff/events/{event.id}/message", data={"subject": "Room change", "body": "Room 2 now."}
    )
    [message] = outbox("event_message")
    assert message.subject == "Room change" and "Room 2 now." in message.body_text


def test_a_freed_place_at_a_paid_event_is_held_and_offered_with_a_link_to_pay(app, client, stripe_sandbox):
    event = make_event("Paid talk", capacity=1, other_price=300)
    first = services.book(event, email="a@example.org", names=["A"], contact_id=None, is_member=False)
    waiting = services.book(event, email="b@example.org", names=["B"], contact_id=None, is_member=False)
    db.session.commit()
    assert (first.status, waiting.status) == ("pending_payment", "waiting")
    services.cancel_booking(first, by="booker")
    db.session.commit()
    assert waiting.status == "pending_payment"
    [offer] = outbox("event_place_offered")
    page = client.get(manage_link(offer)).get_data(as_text=True)
    assert "Pay £3.00" in page
    response = client.post(manage_link(offer) + "/pay")
    assert response.status_code == 303 and stripe_sandbox.find("checkout.session")[0]["amount_total"] == 300


def test_a_paid_booking_gets_a_receipt_shows_in_staff_payments_and_once_cancelled_is_listed_to_refund(
    client, app, stripe_sandbox
):
    member = make_member()
    sign_in_as(client, member)
    event = make_event("Benefit gig", capacity=50, member_price=500, other_price=800)
    client.post(f"/events/{event.slug}/book", data=book_form("mo@example.org", "Mo Member", "Guest"))
    [session] = stripe_sandbox.find("checkout.session")
    stripe_sandbox.pay(session["id"])
    assert all(r.status_code == 200 for r in deliver_webhooks(client, duplicate=True))
    db.session.expire_all()
    [receipt] = outbox("receipt")  # once, though the webhook came twice
    assert receipt.to_email == "mo@example.org"
    assert "payment for an event booking" in receipt.body_text and "£10.00" in receipt.body_text
    history = client.get("/account").get_data(as_text=True).split('id="payments-heading"')[1]
    assert "Event booking" in history and "Donation" not in history

    app.config["DASHBOARD_CACHE_SECONDS"] = 0  # the dashboard read fresh each time, not its minute-old copy
    staff = app.test_client()
    sign_in_as(staff, make_user("staff@example.org", "staff"))
    listed = staff.get("/staff/payments?kind=event").get_data(as_text=True)
    assert "Mo Member" in listed and "£10.00" in listed and 'selected value="event"' in listed
    assert "Mo Member" not in staff.get("/staff/payments?kind=donation").get_data(as_text=True)
    assert "Mo Member" not in section(staff.get("/staff").get_data(as_text=True), "event_refunds")

    booking = db.session.scalar(select(Booking))
    page = client.post(f"/events/bookings/{services.booking_token(booking)}/cancel", follow_redirects=True)
    assert "Cancelled" in page.get_data(as_text=True)
    refunds = section(staff.get("/staff").get_data(as_text=True), "event_refunds")
    assert "Mo Member" in refunds and "£10.00 for Benefit gig" in refunds


def section(html: str, key: str) -> str:
    match = re.search(rf'id="work-{key}">(.*?)</section>', html, re.S)
    assert match, key
    return match.group(1)


def test_the_daily_run_releases_a_held_place_unpaid_after_the_hold_time_and_offers_it_to_the_next(
    app, client, stripe_sandbox
):
    import time_machine

    from crm.core.types import utcnow
    from crm.events.localtime import format_local
    from crm.memberships.daily import run_daily

    assert app.config["EVENT_HOLD_HOURS"] == 48
    event = make_event("Paid talk", capacity=1, other_price=300)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        for email, name in (("a@example.org", "Ann"), ("b@example.org", "Bea"), ("c@example.org", "Cy")):
            client.post(f"/events/{event.slug}/book", data=book_form(email, name))
        first, bea, cy = db.session.scalars(select(Booking).order_by(Booking.id)).all()
        services.cancel_booking(first, by="booker")  # the unpaid first booking goes; Bea is offered the place
        db.session.commit()
    assert (bea.status, cy.status) == ("pending_payment", "waiting")
    [offer] = outbox("event_place_offered")
    assert offer.to_email == "b@example.org" and "Pay within 48 hours" in offer.body_text
    held_until = format_local(start + timedelta(hours=48))
    assert f"We hold your places until {held_until} (UK time)" in client.get(manage_link(offer)).get_data(
        as_text=True
    )

    with time_machine.travel(start + timedelta(hours=47), tick=False):
        assert run_daily()["event_holds_released"] == 0
    db.session.expire_all()
    assert db.session.get(Booking, bea.id).status == "pending_payment"

    with time_machine.travel(start + timedelta(hours=49), tick=False):
        assert run_daily()["event_holds_released"] == 1
        assert run_daily()["event_holds_released"] == 0
    db.session.expire_all()
    assert (db.session.get(Booking, bea.id).status, db.session.get(Booking, cy.id).status) == (
        "cancelled", "pending_payment")  # fmt: skip
    [released] = outbox("event_hold_released")
    assert released.to_email == "b@example.org" and "not paid for within 48 hours" in released.body_text
    assert [m.to_email for m in outbox("event_place_offered")] == ["b@example.org", "c@example.org"]
    assert "Pay £3.00" in client.get(manage_link(outbox("event_place_offered")[1])).get_data(as_text=True)
    assert services.places_left(db.session.get(type(event), event.id)) == 0


def test_a_payment_arriving_after_the_hold_was_released_is_kept_to_refund_not_as_a_place(
    app, client, stripe_sandbox
):
    import time_machine

    from crm.core.types import utcnow
    from crm.memberships.daily import run_daily

    event = make_event("Paid talk", capacity=1, other_price=300)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        client.post(f"/events/{event.slug}/book", data=book_form("a@example.org", "Ann Late"))
    [session] = stripe_sandbox.find("checkout.session")
    with time_machine.travel(start + timedelta(hours=49), tick=False):
        assert run_daily()["event_holds_released"] == 1
    stripe_sandbox.pay(session["id"])
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    db.session.expire_all()
    booking = db.session.scalar(select(Booking))
    assert booking.status == "cancelled" and booking.amount_paid == 0
    assert outbox("event_booking_confirmed") == []
    payment = db.session.scalar(select(Payment))
    assert (payment.kind, payment.amount, payment.status) == ("event", 300, "paid")
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    sign_in_as(client, make_user("staff@example.org", "staff"))
    refunds = section(client.get("/staff").get_data(as_text=True), "event_refunds")
    assert "Ann Late" in refunds and "£3.00 for Paid talk" in refunds


def test_the_events_list_gives_each_events_price_for_the_reader(client, app):
    make_event("Film night")
    make_event("Benefit gig", member_price=500, other_price=800)
    visitor = client.get("/events").get_data(as_text=True)
    gig = visitor[visitor.index("Benefit gig") :]
    assert "£8.00 a place" in gig[:600] and "Free" in visitor[visitor.index("Film night") :][:600]
    sign_in_as(client, make_member())
    member = client.get("/events").get_data(as_text=True)
    assert "£5.00 a place" in member[member.index("Benefit gig") :][:600]
