"""Events and the AGM in the browser: a member books two places at a paid event and pays; a
visitor joins the waiting list of a full free event and gets the place freed by a cancellation;
staff check a person in on a phone-sized page; two members vote, a lapsed one cannot, and the
published result shows 2 votes and the turnout while the staff view shows who voted, not how."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.browser.journey import Journey
from tests.browser.people import LINK_RE, latest_email, make_member, make_staff, sign_in

PASSWORD = "demo-password-2026"


def _email(name: str, trip: Journey) -> str:
    return f"{name}-{trip.viewport}-{uuid.uuid4().hex[:6]}@example.org"


def _new_event(trip: Journey, title: str, **fields: object) -> str:
    """An event saved through the service the staff form calls; returns its slug."""
    from crm.core.types import utcnow
    from crm.events import services

    start = (utcnow() + timedelta(days=12)).replace(microsecond=0)
    values = {"title": title, "description": "Come along.", "starts_at": start, "ends_at": start + timedelta(hours=2),
              "place": "Northgate Community Hall", "online_link": "", "capacity": 0, "visibility": "public", "member_price": 0,
              "other_price": 0, "published": True, **fields}  # fmt: skip
    with trip.live.db() as session:
        event = services.save_event(None, services.EventData(**values))  # type: ignore[arg-type]
        session.commit()
        return event.slug


def _book(trip: Journey, email: str, *names: str) -> None:
    page = trip.page
    page.get_by_label("Email").fill(email)
    for i, name in enumerate(names):
        page.get_by_label(f"Name for place {i + 1}").fill(name)
    trip.follow(page.locator("main form").get_by_role("button"))


def _manage_link(body: str) -> str:
    """The "see or cancel your booking" link of a booking email (not its .ics link)."""
    [url] = [u for u in re.findall(LINK_RE, body) if "/events/bookings/" in u and not u.endswith(".ics")]
    return url


def _wait_for(trip: Journey, text: str, tries: int = 25) -> None:
    for _ in range(tries):
        if text in trip.text():
            return
        time.sleep(0.4)
        trip.page.reload()
    raise AssertionError(f"{text!r} never appeared: {trip.text()[:500]}")


def test_a_member_books_two_places_at_a_paid_event_and_pays(journey: Journey, needs_sandbox: None) -> None:
    email = _email("payer", journey)
    make_member(journey, email)
    slug = _new_event(
        journey, f"Benefit gig {journey.viewport}", capacity=20, member_price=500, other_price=800
    )
    sign_in(journey, email, PASSWORD)
    journey.goto("/account")
    journey.follow(journey.page.get_by_role("link", name="Events and meetings"))
    journey.follow(journey.page.get_by_role("link", name=f"Benefit gig {journey.viewport}", exact=True))
    assert journey.page.url.endswith(f"/events/{slug}")
    assert "£5.00 a place" in journey.text()
    journey.check("event page")
    _book(journey, email, "Pat Payer", "Robin Guest")
    assert journey.live.sandbox_url and journey.page.url.startswith(journey.live.sandbox_url)
    journey.screenshot("sandbox checkout")
    journey.follow(journey.page.get_by_role("button", name="Pay", exact=True))
    _wait_for(journey, "Confirmed")
    assert "Pat Payer" in journey.text() and "Robin Guest" in journey.text() and "£10.00" in journey.text()
    journey.check("booking paid and confirmed")


def test_a_visitor_on_the_waiting_list_gets_the_place_freed_by_a_cancellation(journey: Journey) -> None:
    slug = _new_event(journey, f"Film night {journey.viewport}", capacity=1)
    first, second = _email("first", journey), _email("second", journey)
    journey.goto("/")
    nav = journey.page.get_by_role("navigation", name="Main")
    if journey.phone:
        nav.get_by_role("link", name="Events").scroll_into_view_if_needed()
    journey.follow(nav.get_by_role("link", name="Events", exact=True))
    journey.follow(journey.page.get_by_role("link", name=f"Film night {journey.viewport}", exact=True))
    assert journey.page.url.endswith(f"/events/{slug}")
    _book(journey, first, "Fran First")
    assert "Confirmed" in journey.text()
    other = journey.other_browser("waiting visitor")
    other.goto(f"/events/{slug}")
    assert "Join the waiting list" in other.text()
    _book(other, second, "Sol Second")
    assert "On the waiting list" in other.text()
    other.check("on the waiting list")
    journey.goto(_manage_link(latest_email(journey, first, "event_booking_confirmed")))
    journey.follow(journey.page.get_by_role("button", name="Cancel this booking"))
    assert "Cancelled" in journey.text()
    other.goto(_manage_link(latest_email(other, second, "event_booking_confirmed")))
    assert "Confirmed" in other.text() and "Sol Second" in other.text()
    other.check("place freed and confirmed")
    other.close()


@pytest.mark.parametrize("viewport", ["phone"])  # the check-in page is for the door, on a phone
def test_staff_check_a_person_in_on_a_phone(journey: Journey) -> None:
    assert journey.phone
    slug = _new_event(journey, "Report-back (check-in)")
    journey.goto(f"/events/{slug}")
    _book(journey, _email("guest", journey), "Gus Guest")
    staff_email = _email("door", journey)
    secret = make_staff(journey, staff_email, "staff")
    sign_in(journey, staff_email, PASSWORD, totp_secret=secret)
    from crm.events.models import Event

    with journey.live.db() as session:
        event_id = session.scalar(select(Event.id).where(Event.slug == slug))
    journey.goto(f"/staff/events/{event_id}/check-in")
    journey.follow(journey.page.get_by_role("button", name="Check in Gus Guest"))
    assert "Gus Guest is checked in." in journey.text()
    journey.check("check-in on a phone")


def test_two_members_vote_a_lapsed_one_cannot_and_the_result_shows_turnout(journey: Journey) -> None:
    from crm.core.types import utcnow
    from crm.events import agm
    from crm.events.localtime import to_local
    from crm.events.models import Event

    voters = [_email(n, journey) for n in ("voter-a", "voter-b")]
    lapsed = _email("lapsed", journey)
    for email in voters:
        make_member(journey, email)
    make_member(journey, lapsed, status="lapsed")
    slug = _new_event(journey, f"AGM {journey.viewport}")
    with journey.live.db() as session:
        event = session.scalar(select(Event).where(Event.slug == slug))
        meeting = agm.hold_agm(event)
        agm.set_motions_open(meeting, True)
        session.commit()
        event_id = event.id
    sign_in(journey, voters[0], PASSWORD)
    journey.goto(f"/agm/{event_id}")
    journey.page.get_by_label("Motion title").fill("Twin with a village in the Altiplano Norte")
    journey.page.get_by_label("Motion text (Markdown)").fill("This AGM resolves to **twin**.")
    journey.follow(journey.page.get_by_role("button", name="Submit the motion"))
    with journey.live.db() as session:
        meeting = session.get(agm.Meeting, event_id)
        agm.decide_motion(meeting.motions[0], accepted=True)
        agm.publish_agenda(meeting)
        now = utcnow()
        agm.set_voting_window(meeting, opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(seconds=25),
                              record_date=to_local(now).date())  # fmt: skip
        session.commit()
    for i, email in enumerate(voters):
        trip = journey if i == 0 else journey.other_browser(f"voter {i}")
        if i:
            sign_in(trip, email, PASSWORD)
        trip.goto(f"/agm/{event_id}")
        trip.page.get_by_label("For" if i == 0 else "Against", exact=True).check()
        if i == 0:
            trip.check("vote page")
        trip.follow(trip.page.get_by_role("button", name="Cast my vote"))
        assert "is recorded" in trip.text()
    late = journey.other_browser("lapsed member")
    sign_in(late, lapsed, PASSWORD)
    late.goto(f"/agm/{event_id}")
    assert "Only members in good standing on the record date" in late.text()
    assert late.page.get_by_role("button", name="Cast my vote").count() == 0
    late.close()
    with journey.live.db() as session:
        # The window's end comes now rather than in up to 25 s: the clock moves on, as on the
        # day (the service refuses to change a window once votes are cast, so the row is set).
        meeting = session.get(agm.Meeting, event_id)
        meeting.voting_closes_at = utcnow()
        session.commit()
        meeting = session.get(agm.Meeting, event_id)
        counted = agm.results(meeting)[0]
        agm.publish_results(meeting)
        session.commit()
    journey.goto(f"/agm/{event_id}")
    text = journey.text()
    assert "For 1 · Against 1" in text and re.search(
        r"2 votes of \d+ eligible members: turnout \d+%", text
    ), text
    assert counted.votes == 2
    journey.check("results with turnout")
    staff_email = _email("returning-officer", journey)
    secret = make_staff(journey, staff_email, "staff")
    staff = journey.other_browser("staff")
    sign_in(staff, staff_email, PASSWORD, totp_secret=secret)
    staff.goto(f"/staff/events/{event_id}/agm")
    voters_table = staff.page.locator("table.voters").inner_text()
    assert voters_table.count("online") == 2
    assert "For" not in voters_table and "Against" not in voters_table
    staff.check("staff see who voted, not how")
    staff.close()
