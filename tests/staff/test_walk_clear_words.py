"""What a new staff member stumbled on walking the staff area: statuses shown as codes, an empty
payments page with no way forward, a bookings table too wide for a phone."""

from __future__ import annotations

import re
from datetime import timedelta

from crm.core.types import utcnow
from crm.extensions import db
from tests.fixtures import make_contact
from tests.staff.conftest import make_membership, make_payment, make_plan


def test_membership_statuses_read_as_words_not_codes(staff_client, app):  # type: ignore[no-untyped-def]
    plan = make_plan()
    contact = make_contact("grace@example.org", first_name="Helen", last_name="Price")
    make_membership(contact, plan, "grace", paid_days=-5)
    db.session.commit()
    listing = staff_client.get("/staff/members").get_data(as_text=True)
    assert '<option value="direct_debit_pending">Direct Debit being set up</option>' in listing
    assert "Direct_debit_pending" not in listing
    assert re.search(r'<span class="badge badge-grace">In grace</span>', listing)
    page = staff_client.get(f"/staff/members/{contact.id}").get_data(as_text=True)
    assert '<span class="badge badge-grace">In grace</span>' in page
    dashboard = staff_client.get("/staff").get_data(as_text=True)
    assert '<span class="badge badge-grace">In grace</span>' in dashboard
    assert '<span class="badge badge-grace">grace</span>' not in dashboard


def test_an_empty_payments_month_says_which_dates_and_offers_the_year(staff_client, app):  # type: ignore[no-untyped-def]
    contact = make_contact("old@example.org")
    make_payment(contact, amount=2500, paid_at=utcnow() - timedelta(days=100))
    db.session.commit()
    today = utcnow().date()
    page = staff_client.get(f"/staff/payments?date_from={today.isoformat()}&date_to={today.isoformat()}")
    html = page.get_data(as_text=True)
    assert "No payments in this range." not in html
    assert "Change the dates above, or" in html
    link = re.search(r'<a href="([^"]+)">show the twelve months to [^<]+</a>', html)
    assert link is not None
    wider = staff_client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "£25.00" in wider  # the donation from 100 days ago is there


def test_the_bookings_table_scrolls_on_its_own_on_a_phone(staff_client, app):  # type: ignore[no-untyped-def]
    from tests.events.test_staff_pages import create_event

    event = create_event(staff_client, "Film night", "2027-03-05T19:00", "2027-03-05T21:00")
    html = staff_client.get(f"/staff/events/{event.id}").get_data(as_text=True)
    wrapper = '<div class="table-wrap" tabindex="0" role="region" aria-label="Bookings">\n<table>'
    assert wrapper in html and html.index("</table>\n</div>") > html.index(wrapper)


def test_the_outbox_and_the_member_page_name_each_email_in_words(app, client, admin_user):  # type: ignore[no-untyped-def]
    from crm.email.models import OutboxMessage
    from tests.fixtures import sign_in_as

    contact = make_contact("booker@example.org")
    for kind in ("event_booking_confirmed", "subscribe_confirm"):
        db.session.add(
            OutboxMessage(
                to_email=contact.email, contact_id=contact.id, kind=kind, subject="Hello", body_text="Hi"
            )
        )
    db.session.commit()
    admin = sign_in_as(client, admin_user)
    for path in ("/staff/outbox", f"/staff/members/{contact.id}"):
        html = admin.get(path).get_data(as_text=True)
        assert "<td>Event booking confirmed</td>" in html and "<td>Confirm subscription</td>" in html, path
        assert "event_booking_confirmed" not in html, path


def test_payments_read_their_status_and_purpose_in_words(staff_client, app):  # type: ignore[no-untyped-def]
    contact = make_contact("words@example.org", first_name="Rosa")
    make_payment(contact, amount=2500, status="partly_refunded", amount_refunded=500)  # no membership: a gift
    db.session.commit()
    for page in (staff_client.get("/staff/payments"), staff_client.get(f"/staff/members/{contact.id}")):
        html = page.get_data(as_text=True)
        assert '<span class="badge badge-partly_refunded">Partly refunded</span>' in html
        assert "<td>Donation</td>" in html and "<td>donation</td>" not in html
    listing = staff_client.get("/staff/payments").get_data(as_text=True)
    assert '<option value="partly_refunded">Partly refunded</option>' in listing
    assert '<option value="event">Event booking</option>' in listing
