"""The members' area in Spanish: pages, form errors, notices and the consent wording a member reads."""

from __future__ import annotations

from sqlalchemy import select

from crm.contacts.models import Consent, GiftAidDeclaration
from crm.extensions import db
from tests.fixtures import csrf_token
from tests.members_area.factories import make_payment, sign_in


def test_the_account_page_is_in_spanish_when_the_member_chose_spanish(client, active_member):
    make_payment(active_member.contact)
    db.session.commit()
    client.get("/language/es")
    sign_in(client, active_member)
    html = client.get("/account").get_data(as_text=True)
    assert "<h1>Mi cuenta</h1>" in html and "Hola, Ana." in html
    assert "Tu afiliación" in html and "Activa" in html and "Historial de pagos" in html
    assert "Cancelar la renovación automática" in html
    assert "My account" not in html and "Payment history" not in html


def test_details_form_errors_and_the_saved_notice_are_in_spanish(client, active_member):
    client.get("/language/es")
    sign_in(client, active_member)
    token = csrf_token(client, "/account/details")
    page = client.get("/account/details").get_data(as_text=True)
    assert "Cambia tus datos" in page and "Nombre" in page and "Guardar mis datos" in page
    version = page.split('name="version"')[1].split('value="')[1].split('"')[0]
    data = {
        "csrf_token": token,
        "version": version,
        "first_name": "",
        "last_name": "Torres",
        "email": "ana@example.org",
        "address_line1": "1 High Street",
        "town": "London",
        "country": "GB",
    }
    html = client.post("/account/details", data=data).get_data(as_text=True)
    assert "Escribe tu nombre." in html
    saved = client.post("/account/details", data={**data, "first_name": "Ana María"}, follow_redirects=True)
    assert "Hemos guardado tus datos." in saved.get_data(as_text=True)


def test_the_sign_in_prompt_is_in_the_visitors_language(client):
    client.get("/language/es")
    html = client.get("/account", follow_redirects=True).get_data(as_text=True)
    assert "Inicia sesión para ver esa página." in html
    client.get("/language/en")
    assert "Please sign in to see that page." in client.get("/account", follow_redirects=True).get_data(
        as_text=True
    )


def test_a_consent_given_in_spanish_records_the_spanish_words_the_member_read(client, active_member):
    client.get("/language/es")
    sign_in(client, active_member)
    token = csrf_token(client, "/account/email-preferences")
    page = client.get("/account/email-preferences").get_data(as_text=True)
    assert "Mis preferencias de correo" in page and "Mensajes de texto (SMS)" in page
    response = client.post(
        "/account/email-preferences", data={"csrf_token": token, "email_updates": "y"}, follow_redirects=True
    )
    assert "Hemos guardado tus preferencias." in response.get_data(as_text=True)
    consent = db.session.scalars(select(Consent).where(Consent.contact_id == active_member.contact_id)).one()
    assert consent.granted and consent.wording.startswith("Sí, quiero recibir por correo noticias")
    assert consent.language == "es"


def test_a_gift_aid_declaration_made_in_spanish_is_recorded_and_shown_in_spanish(client, active_member):
    client.get("/language/es")
    sign_in(client, active_member)
    page = client.get("/account/gift-aid").get_data(as_text=True)
    assert "Pago impuestos en el Reino Unido" in page and "I am a UK taxpayer" not in page
    token = csrf_token(client, "/account/gift-aid")
    client.post(
        "/account/gift-aid", data={"csrf_token": token, "house": "1", "postcode": "n19gu", "confirm": "y"}
    )
    declaration = db.session.scalars(select(GiftAidDeclaration)).one()
    assert declaration.language == "es" and declaration.wording.startswith(
        "Quiero que se aplique el Gift Aid"
    )
    # Read back later in English, the declaration is still the one accepted: in Spanish.
    client.get("/language/en")
    shown = client.get("/account/gift-aid").get_data(as_text=True)
    assert "You made a Gift Aid declaration on" in shown and declaration.wording in shown
