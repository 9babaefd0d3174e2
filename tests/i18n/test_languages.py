"""Which language a reader gets: their explicit choice (the switch, a cookie), then their
preferred language when signed in, then the browser's Accept-Language, then English; and emails
to a contact in their preferred language."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from crm.email.services import queue_email
from crm.extensions import db
from tests.fixtures import make_contact, make_user, sign_in_as


def test_a_first_visit_follows_the_browser_language(client) -> None:  # type: ignore[no-untyped-def]
    spanish = client.get("/", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="es">' in spanish
    assert "Hazte socio" in spanish and "Iniciar sesión" in spanish
    english = client.get("/", headers={"Accept-Language": "fr-FR,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="en-GB">' in english and "Become a member" in english


def test_the_switch_works_without_javascript_and_is_remembered(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/language/es?next=/login"' in page
    switched = client.get("/language/es?next=/login")
    assert switched.status_code == 303 and switched.headers["Location"] == "/login"
    assert "lang=es" in switched.headers["Set-Cookie"]
    # Remembered over the browser's own preference, on every page.
    again = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<h1>Iniciar sesión</h1>" in again
    assert 'href="/language/en?next=/login"' in again
    client.get("/language/en")
    assert "<h1>Sign in</h1>" in client.get("/login", headers={"Accept-Language": "es"}).get_data(
        as_text=True
    )


def test_the_switch_never_sends_the_reader_to_another_site(client) -> None:  # type: ignore[no-untyped-def]
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.get("/language/es", query_string={"next": target})
        assert response.headers["Location"] == "/"
    assert client.get("/language/fr").status_code == 404


def test_a_signed_in_contact_gets_their_preferred_language(app, client) -> None:  # type: ignore[no-untyped-def]
    user = make_user("lucia@example.org", first_name="Lucía", last_name="Mejía", preferred_language="es")
    sign_in_as(client, user)
    assert "Mi cuenta" in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    client.get("/language/en")  # an explicit choice wins
    assert "My account" in client.get("/").get_data(as_text=True)


def test_form_errors_are_in_the_page_language(client) -> None:  # type: ignore[no-untyped-def]
    from tests.fixtures import csrf_token

    client.get("/language/es")
    token = csrf_token(client, "/login")
    html = client.post("/login", data={"csrf_token": token, "email": "", "password": ""}).get_data(
        as_text=True
    )
    assert "Hay un problema" in html and "Escribe tu dirección de correo" in html


def test_an_email_is_written_in_the_recipients_language(app) -> None:  # type: ignore[no-untyped-def]
    contact = make_contact("jose@example.org", first_name="José", preferred_language="es")
    payment = SimpleNamespace(
        kind="donation",
        amount=123450,
        currency="gbp",
        paid_at=datetime(2026, 7, 6, 23, 30, tzinfo=UTC),  # 00:30 on the 7th in London
        method="card",
        id=7,
        gift_aid_eligible=False,
    )
    spanish = queue_email(
        contact.email, "receipt", {"contact": contact, "payment": payment}, contact_id=contact.id
    )
    assert "1.234,50\u00a0£" in spanish.body_text and "7 de julio de 2026" in spanish.body_text
    other = make_contact("ann@example.org", first_name="Ann")
    english = queue_email(other.email, "receipt", {"contact": other, "payment": payment})
    assert "£1,234.50" in english.body_text and "7 July 2026" in english.body_text
    db.session.rollback()
