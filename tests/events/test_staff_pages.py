"""Staff filling in the event forms and running an AGM from its management page, as they do in the
browser: times typed in UK local time, capacity lowered below the bookings refused, and each AGM
step (motions window, agenda, voting window, results) taken from its button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.core.types import utcnow
from crm.events.localtime import to_local
from crm.events.models import Event, Meeting, Motion
from crm.extensions import db
from crm.memberships import lifecycle
from tests.events.conftest import book_form
from tests.fixtures import make_user, sign_in_as
from tests.memberships.factories import make_plan


def event_form(title: str, starts: str, ends: str, **fields: str) -> dict[str, str]:
    return {"title": title, "description": "Bring a friend.", "starts_at": starts, "ends_at": ends,
            "place": "Northgate Community Hall", "online_link": "", "capacity": "0", "visibility": "public",
            "member_price": "", "other_price": "", "published": "y", **fields}  # fmt: skip


def create_event(staff_client, title: str, starts: str, ends: str, **fields: str) -> Event:  # type: ignore[no-untyped-def]
    response = staff_client.post("/staff/events/new", data=event_form(title, starts, ends, **fields))
    assert response.status_code == 303, response.get_data(as_text=True)
    return db.session.scalar(select(Event).where(Event.title == title))


def test_times_typed_in_uk_local_time_are_stored_in_utc_across_the_clock_change(app, staff_client):
    summer = create_event(staff_client, "Summer talk", "2027-07-14T19:00", "2027-07-14T21:00")
    winter = create_event(staff_client, "Winter talk", "2027-12-08T19:00", "2027-12-08T21:00")
    assert summer.starts_at == datetime(2027, 7, 14, 18, 0, tzinfo=UTC)  # BST is UTC+1
    assert winter.starts_at == datetime(2027, 12, 8, 19, 0, tzinfo=UTC)  # GMT is UTC
    assert winter.ends_at == datetime(2027, 12, 8, 21, 0, tzinfo=UTC)
    # The edit form shows them back as they were typed, and the public page in UK time.
    assert 'value="2027-07-14T19:00"' in staff_client.get(f"/staff/events/{summer.id}/edit").get_data(
        as_text=True
    )
    assert "Wed 14 Jul 2027, 7pm" in staff_client.get(f"/events/{summer.slug}").get_data(as_text=True)
    assert "Wed 8 Dec 2027, 7pm" in staff_client.get(f"/events/{winter.slug}").get_data(as_text=True)


def test_the_edit_form_saves_changes_and_refuses_an_end_before_the_start_and_a_bad_price(app, staff_client):
    event = create_event(staff_client, "Film night", "2027-03-05T19:00", "2027-03-05T21:00", member_price="3")
    assert (event.member_price, event.other_price) == (300, 0)
    form = event_form("Film night", "2027-03-05T19:00", "2027-03-05T18:00", member_price="3")
    page = staff_client.post(f"/staff/events/{event.id}/edit", data=form).get_data(as_text=True)
    assert "The end must be after the start." in page
    page = staff_client.post(f"/staff/events/{event.id}/edit",
                             data={**form, "ends_at": "2027-03-05T22:00", "member_price": "three"}).get_data(as_text=True)  # fmt: skip
    assert "Enter a price in pounds, like 5 or 7.50." in page
    response = staff_client.post(f"/staff/events/{event.id}/edit",
                                 data={**form, "ends_at": "2027-03-05T22:30", "other_price": "7.50", "capacity": "40"})  # fmt: skip
    assert response.status_code == 303
    db.session.refresh(event)
    assert (event.ends_at, event.other_price, event.capacity) == (
        datetime(2027, 3, 5, 22, 30, tzinfo=UTC),
        750,
        40,
    )
    assert db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.action == "event.save", AuditEvent.target_id == str(event.id))
    )


def test_lowering_the_capacity_below_the_places_booked_is_refused_with_a_message(app, client, staff_client):
    event = create_event(staff_client, "Report-back", "2027-04-01T19:00", "2027-04-01T21:00", capacity="5")
    visitor = app.test_client()
    assert (
        visitor.post(
            f"/events/{event.slug}/book", data=book_form("vi@example.org", "Vi", "Sam", "Kim")
        ).status_code
        == 303
    )
    form = event_form("Report-back", "2027-04-01T19:00", "2027-04-01T21:00", capacity="2")
    response = staff_client.post(f"/staff/events/{event.id}/edit", data=form)
    assert response.status_code == 200
    assert "3 places are already booked: the capacity cannot be lower than that." in response.get_data(
        as_text=True
    )
    db.session.refresh(event)
    assert event.capacity == 5
    assert (
        staff_client.post(f"/staff/events/{event.id}/edit", data={**form, "capacity": "3"}).status_code == 303
    )
    db.session.refresh(event)
    assert event.capacity == 3


def _member(app, email: str):  # type: ignore[no-untyped-def]
    user = make_user(email, "member", first_name=email.split("@")[0].title(), last_name="Member")
    lifecycle.grant_complimentary(user.contact, make_plan(f"p-{email[:5]}"), actor=None)
    db.session.commit()
    return sign_in_as(app.test_client(), user)


def test_staff_run_an_agm_from_its_page_motions_agenda_voting_window_and_results(app, staff_client):
    event = create_event(staff_client, "Annual General Meeting", "2027-01-20T19:00", "2027-01-20T21:00")
    manage = f"/staff/events/{event.id}/agm"
    bookings = staff_client.get(f"/staff/events/{event.id}").get_data(as_text=True)
    assert "Hold an AGM at this event</a>" in bookings  # any event may become the AGM: said so
    assert "Hold the AGM at this event" in staff_client.get(manage).get_data(as_text=True)
    staff_client.post(f"{manage}/setup")
    bookings = staff_client.get(f"/staff/events/{event.id}").get_data(as_text=True)
    assert "AGM: motions and voting</a>" in bookings and "Hold an AGM" not in bookings
    ana, ben = _member(app, "ana@example.org"), _member(app, "ben@example.org")

    # Motions: refused while closed, accepted while open, refused again once closed.
    motion_form = {"title": "Land rights", "text": "We resolve to campaign."}
    page = ana.post(f"/agm/{event.id}/motions", data=motion_form, follow_redirects=True).get_data(
        as_text=True
    )
    assert "Motions are not open for this meeting." in page
    page = staff_client.post(f"{manage}/motions-window", data={"open": "1"}, follow_redirects=True).get_data(
        as_text=True
    )
    assert "Members can submit motions now." in page
    ana.post(f"/agm/{event.id}/motions", data=motion_form)
    staff_client.post(f"{manage}/motions-window", data={"open": "0"})
    page = ben.post(f"/agm/{event.id}/motions", data={**motion_form, "title": "Late one"},
                    follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "Motions are not open for this meeting." in page
    [motion] = db.session.scalars(select(Motion)).all()

    # Agenda: refused with nothing accepted, then published; members see it.
    page = staff_client.post(f"{manage}/agenda", follow_redirects=True).get_data(as_text=True)
    assert "Accept at least one motion before publishing the agenda." in page
    staff_client.post(f"{manage}/motions/{motion.id}/decide", data={"accept": "1"})
    page = staff_client.post(f"{manage}/agenda", follow_redirects=True).get_data(as_text=True)
    assert "Agenda published" in page and "Put on the agenda" not in page
    assert "Land rights" in ana.get(f"/agm/{event.id}").get_data(as_text=True)

    # Voting window typed in UK time (December: GMT); it opened an hour ago and closes in half an hour.
    now = to_local(utcnow()).replace(second=0, microsecond=0, tzinfo=None)
    window = {"opens_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
              "closes_at": (now + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"), "record_date": now.date().isoformat()}  # fmt: skip
    page = staff_client.post(f"{manage}/voting", data={**window, "closes_at": window["opens_at"]},
                             follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "Voting must close after it opens." in page
    assert "Voting window saved." in staff_client.post(f"{manage}/voting", data=window,
                                                       follow_redirects=True).get_data(as_text=True)  # fmt: skip
    meeting = db.session.get(Meeting, event.id)
    assert meeting.voting_closes_at == (now + timedelta(minutes=30)).replace(
        tzinfo=to_local(utcnow()).tzinfo
    ).astimezone(UTC)
    for person, choice in ((ana, "for"), (ben, "against")):
        person.post(f"/agm/motions/{motion.id}/vote", data={"choice": choice})
    page = staff_client.post(f"{manage}/voting", data=window, follow_redirects=True).get_data(as_text=True)
    assert "Votes have been cast: the window and record date can no longer change." in page

    # Results: refused while voting is open; published once it has closed.
    page = staff_client.post(f"{manage}/results", follow_redirects=True).get_data(as_text=True)
    assert "The results show here when voting has closed." in page
    assert "Results can be published once voting has closed." in page
    with time_machine.travel(utcnow() + timedelta(minutes=45)):
        page = staff_client.get(manage).get_data(as_text=True)
        assert "for 1, against 1, abstain 0; 2 votes of 2 eligible (100% turnout)" in page
        page = staff_client.post(f"{manage}/results", follow_redirects=True).get_data(as_text=True)
        assert "Results published" in page
        member_page = ana.get(f"/agm/{event.id}").get_data(as_text=True)
        assert "2 votes of 2 eligible members: turnout 100%" in member_page
        assert "Voting has closed." in ben.post(f"/agm/motions/{motion.id}/vote", data={"choice": "for"},
                                                 follow_redirects=True).get_data(as_text=True)  # fmt: skip
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("agm.%"))))
    assert {"agm.create", "agm.motion_submit", "agm.agenda_publish", "agm.voting_window", "agm.vote",
            "agm.results_publish"} <= actions  # fmt: skip


def test_the_agm_page_shows_the_voting_window_already_set_in_its_fields_in_uk_time(app, staff_client):
    event = create_event(staff_client, "Annual General Meeting", "2027-07-20T19:00", "2027-07-20T21:00")
    manage = f"/staff/events/{event.id}/agm"
    staff_client.post(f"{manage}/setup")
    window = {"opens_at": "2027-07-01T09:00", "closes_at": "2027-07-19T17:30", "record_date": "2027-06-30"}
    assert "Voting window saved." in staff_client.post(f"{manage}/voting", data=window,
                                                       follow_redirects=True).get_data(as_text=True)  # fmt: skip
    page = staff_client.get(manage).get_data(as_text=True)
    for value in window.values():  # BST: 09:00 in London, not the 08:00 UTC it is stored as
        assert f'value="{value}"' in page


def test_the_staff_bookings_list_reads_each_status_in_words(app, client, staff_client):
    from tests.events.conftest import make_event

    event = make_event("Talk", capacity=1)
    for email in ("first@example.org", "second@example.org"):
        assert client.post(f"/events/{event.slug}/book", data=book_form(email, "A Person")).status_code in (
            302,
            303,
        )
    page = staff_client.get(f"/staff/events/{event.id}").get_data(as_text=True)
    assert '<span class="badge badge-confirmed">Confirmed</span>' in page
    assert '<span class="badge badge-waiting">On the waiting list</span>' in page
