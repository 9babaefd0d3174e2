"""Events in Spanish: the event page, the booking form's errors and the booking page a Spanish reader sees."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import select

from crm.email.models import OutboxMessage
from crm.extensions import db
from tests.events.conftest import book_form, make_event


def test_a_spanish_reader_books_an_event_in_spanish(client, app):
    event = make_event(starts_at=datetime(2030, 7, 1, 18, 30, tzinfo=UTC), capacity=10)
    client.get("/language/es")
    html = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert "Cuándo" in html and "(hora del Reino Unido)" in html and "Gratis" in html
    assert "lun 1 jul 2030, 19:30</time> al 21:30 (hora" in html  # 18:30 UTC is 19:30 in London in summer
    client.get("/language/en")
    english = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert "Mon 1 Jul 2030, 7:30pm</time> to 9:30pm (UK time)" in english  # the day once, not twice
    client.get("/language/es")
    assert "Nombre para la plaza 1" in html and ">Reservar</button>" in html
    refused = client.post(f"/events/{event.slug}/book", data=book_form("vi@example.org", ""))
    assert refused.status_code == 400 and "Escribe un nombre para cada plaza." in refused.get_data(
        as_text=True
    )
    response = client.post(f"/events/{event.slug}/book", data=book_form("vi@example.org", "Vi Visitor"))
    assert response.status_code == 303
    booked = client.get(urlsplit(response.headers["Location"]).path).get_data(as_text=True)
    assert (
        f"Tu reserva: {event.title}" in booked
        and "Confirmada" in booked
        and "Cancelar esta reserva" in booked
    )


def test_a_members_only_event_asks_a_spanish_visitor_to_sign_in_in_spanish(client, app):
    event = make_event(visibility="members")
    client.get("/language/es")
    html = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert "Este evento es para socios." in html and "Inicia sesión</a> para reservar." in html
    assert "Solo para socios" not in html  # the listing hides it from visitors


def test_staff_give_a_motion_its_spanish_version_and_spanish_members_read_it(client, app):
    from tests.events.test_agm import meeting_with_open_vote, member
    from tests.fixtures import make_user, sign_in_as

    event, _meeting, motion = meeting_with_open_vote()
    sign_in_as(client, make_user("admin@example.org", "admin"))
    saved = client.post(f"/staff/events/{event.id}/agm/motions/{motion.id}/spanish",
                        data={"title_es": "Campaña por la tierra", "text_es": "Nosotros **acordamos**."})  # fmt: skip
    assert saved.status_code == 303
    assert "Campaña por la tierra" in client.get(f"/staff/events/{event.id}/agm").get_data(as_text=True)
    client.get("/logout")
    sign_in_as(client, member("voter@example.org"))
    event_page = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert f'<a href="/agm/{event.id}">The agenda, motions and voting</a>' in event_page
    english = client.get(f"/agm/{event.id}").get_data(as_text=True)
    assert "Campaign for land rights" in english and "Campaña" not in english
    client.get("/language/es")
    spanish = client.get(f"/agm/{event.id}").get_data(as_text=True)
    assert "Campaña por la tierra" in spanish and "<strong>acordamos</strong>" in spanish
    assert "Campaign for land rights" not in spanish
    voted = client.post(f"/agm/motions/{motion.id}/vote", data={"choice": "for"}, follow_redirects=True)
    assert "Campaña por la tierra" in voted.get_data(as_text=True)


def test_staff_give_an_event_its_spanish_version_and_spanish_readers_see_it(client, app):
    from tests.events.test_agm import member
    from tests.events.test_staff_pages import event_form
    from tests.fixtures import make_user, sign_in_as

    sign_in_as(client, make_user("admin@example.org", "admin"))
    saved = client.post("/staff/events/new", data=event_form(
        "Film night", "2030-07-01T19:30", "2030-07-01T21:30",
        title_es="Noche de cine", description_es="Trae a una **amiga**.<script>alert(1)</script>"))  # fmt: skip
    assert saved.status_code == 303, saved.get_data(as_text=True)
    edit = client.get(urlsplit(saved.headers["Location"]).path + "/edit").get_data(as_text=True)
    assert 'value="Noche de cine"' in edit and "Trae a una **amiga**." in edit
    client.get("/logout")
    sign_in_as(client, member("vi@example.org"))
    client.post("/language", data={"language": "es"})  # the site's and their emails' language
    listing = client.get("/events").get_data(as_text=True)
    assert ">Noche de cine</a>" in listing and "Film night" not in listing
    page = client.get("/events/film-night").get_data(as_text=True)
    assert '<h1 id="event-title">Noche de cine</h1>' in page and "<strong>amiga</strong>" in page
    assert "<script>alert(1)" not in page and "Bring a friend." not in page  # sanitised; not the English
    response = client.post("/events/film-night/book", data=book_form("vi@example.org", "Vi Visitor"))
    assert response.status_code == 303
    booked = client.get(urlsplit(response.headers["Location"]).path).get_data(as_text=True)
    assert "Tu reserva: Noche de cine" in booked
    [mail] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "event_booking_confirmed"))
    assert mail.subject == "Reserva confirmada: Noche de cine" and "Noche de cine" in mail.body_text
    client.get("/language/en")
    english = client.get("/events/film-night").get_data(as_text=True)
    assert '<h1 id="event-title">Film night</h1>' in english and "Bring a friend." in english


def test_an_event_without_a_spanish_version_shows_spanish_readers_the_english(client, app):
    event = make_event(title="Benefit gig")
    client.get("/language/es")
    assert ">Benefit gig</a>" in client.get("/events").get_data(as_text=True)
    page = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert '<h1 id="event-title">Benefit gig</h1>' in page and "<em>good</em>" in page
