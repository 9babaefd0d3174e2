"""Events in Spanish: the event page, the booking form's errors and the booking page a Spanish reader sees."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from tests.events.conftest import book_form, make_event


def test_a_spanish_reader_books_an_event_in_spanish(client, app):
    event = make_event(starts_at=datetime(2030, 7, 1, 18, 30, tzinfo=UTC), capacity=10)
    client.get("/language/es")
    html = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert "Cuándo" in html and "(hora del Reino Unido)" in html and "Gratis" in html
    assert "lun 1 jul 2030, 19:30" in html  # 18:30 UTC is 19:30 in London in summer
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
