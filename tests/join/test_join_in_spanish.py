"""A supporter whose browser asks for Spanish joins, donates and subscribes in Spanish, and the
emails the join sends are in Spanish; an English browser still gets English."""

from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import select

from crm.contacts.models import Consent, GiftAidDeclaration
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import sign_in_as
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks

SPANISH = {"Accept-Language": "es-ES,es;q=0.9"}


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def test_the_join_page_is_in_spanish_with_spanish_money(client, plans) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/join", headers=SPANISH).get_data(as_text=True)
    assert "<h1>Hazte socio</h1>" in html
    assert "36,00\u00a0£ al año, se renueva automáticamente" in html
    assert "Tus datos" in html and "Código postal" in html and "Reino Unido" in html
    assert "Continuar al pago" in html
    assert "Become a member" not in client.get("/join", headers=SPANISH).get_data(as_text=True)


def test_join_form_errors_are_in_spanish(client, plans) -> None:  # type: ignore[no-untyped-def]
    data = form(plans, first_name="", postcode="nowhere", last_name="B" * 101)
    html = client.post("/join", data=data, headers=SPANISH).get_data(as_text=True)
    assert "Escribe tu nombre." in html
    assert "Escribe un código postal del Reino Unido, como N1 9GU." in html
    assert "Los apellidos deben tener como máximo 100 caracteres." in html
    typo = client.post("/join", data=form(plans, email="ana@gmial.com"), headers=SPANISH).get_data(
        as_text=True
    )
    assert "¿Querías decir ana@gmail.com?" in typo


def test_an_english_browser_still_gets_english(client, plans) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/join", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert "<h1>Become a member</h1>" in html and "£36.00 a year, renews automatically" in html


def test_joining_in_spanish_sends_spanish_emails_and_a_spanish_welcome(client, plans, stripe_sandbox) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/join", data=form(plans, preferred_language="es"), headers=SPANISH)
    assert response.status_code == 303, response.get_data(as_text=True)
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    assert all(r.status_code == 200 for r in deliver_webhooks(client))

    page = client.get(f"/join/success?session_id={membership.stripe_checkout_session_id}", headers=SPANISH)
    assert "Te damos la bienvenida: ya eres socio" in page.get_data(as_text=True)
    emails = {m.kind: m for m in db.session.scalars(select(OutboxMessage))}
    receipt = emails["receipt"]
    assert receipt.subject.startswith("Tu recibo de ")
    assert "Hola, Ana:" in receipt.body_text and "36,00\u00a0£" in receipt.body_text
    assert "Gracias." in receipt.body_html
    welcome = emails["welcome"]
    assert welcome.subject.startswith("Te damos la bienvenida a ")
    assert "elige una contraseña" in welcome.body_text.lower()


def test_donate_and_subscribe_pages_are_in_spanish(client, plans) -> None:  # type: ignore[no-untyped-def]
    donate = client.get("/donate", headers=SPANISH).get_data(as_text=True)
    assert "<h1>Haz un donativo</h1>" in donate and "Cada mes" in donate and "Otra cantidad" in donate
    error = client.post(
        "/donate", data={"preset": "other", "amount": "0.10", "frequency": "once"}, headers=SPANISH
    )
    assert "Escribe una cantidad entre 1,00\u00a0£ y 10.000,00\u00a0£." in error.get_data(as_text=True)
    subscribe = client.get("/subscribe", headers=SPANISH).get_data(as_text=True)
    assert "<h1>Recibe novedades por correo</h1>" in subscribe and "Apuntarme" in subscribe


@pytest.mark.parametrize("path", ["/donate", "/join"])
def test_the_suggested_amounts_are_written_as_spanish_money(client, plans, path) -> None:  # type: ignore[no-untyped-def]
    """The same page writes "10,00 £" elsewhere: the amount buttons say "10 £", not "£10"."""
    spanish = client.get(path, headers=SPANISH).get_data(as_text=True)
    assert all(f">{pounds}\u00a0£</label>" in spanish for pounds in ("10", "25", "50")), spanish
    assert ">£10</label>" not in spanish
    english = client.get(path, headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert ">£10</label>" in english and ">£50</label>" in english


def test_a_payment_provider_failure_is_explained_in_spanish(client, plans, stripe_sandbox) -> None:  # type: ignore[no-untyped-def]
    stripe_sandbox.fail_next("/v1/checkout/sessions", mode="error_500")
    html = client.post("/join", data=form(plans), headers=SPANISH).get_data(as_text=True)
    assert "No se te ha cobrado nada." in html
    assert "Our payment provider" not in html and "Inténtalo de nuevo" in html


def _join_and_pay(client, plans, stripe_sandbox, headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    data = form(plans, email_updates="y", email_appeals="y", gift_aid="y")
    assert client.post("/join", data=data, headers=headers).status_code == 303
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    # The webhook records the declarations: it has no browser, so no Accept-Language of its own.
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    db.session.expire_all()


def test_a_spanish_joiner_declares_gift_aid_and_consents_in_the_spanish_they_read(
    client, plans, stripe_sandbox, staff_user
) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/join", headers=SPANISH).get_data(as_text=True)
    declaration_shown = "Quiero que se aplique el Gift Aid a mi donativo"
    news_shown = "Sí, quiero recibir noticias y novedades de las campañas de"
    assert declaration_shown in page and news_shown in page and "UK taxpayer" not in page
    _join_and_pay(client, plans, stripe_sandbox, SPANISH)

    declaration = db.session.scalar(select(GiftAidDeclaration))
    assert declaration.language == "es"
    assert declaration.wording.startswith(declaration_shown) and declaration.wording in page
    consents = {c.purpose: c for c in db.session.scalars(select(Consent))}
    assert {c.language for c in consents.values()} == {"es"}
    assert consents["news"].wording.startswith(news_shown) and consents["news"].wording in page
    assert "por correo electrónico" in consents["appeals"].wording and consents["appeals"].wording in page

    # Staff read the words as the supporter accepted them (the staff area itself is English).
    sign_in_as(client, staff_user)
    staff_page = client.get(f"/staff/members/{declaration.contact_id}").get_data(as_text=True)
    assert (
        f'<blockquote class="declaration" lang="es">{escape(declaration.wording)}</blockquote>' in staff_page
    )
    assert f'<q lang="es">{escape(consents["news"].wording)}</q> (in Spanish)' in staff_page


def test_an_english_joiner_declares_in_english(client, plans, stripe_sandbox) -> None:  # type: ignore[no-untyped-def]
    _join_and_pay(client, plans, stripe_sandbox, {"Accept-Language": "en-GB"})
    declaration = db.session.scalar(select(GiftAidDeclaration))
    assert declaration.language == "en" and declaration.wording.startswith("I want to Gift Aid my donation")
    consent = db.session.scalar(select(Consent).where(Consent.purpose == "news"))
    assert consent.language == "en"
    assert consent.wording.startswith("Yes, send me news and campaign updates from ")
    assert consent.wording.endswith(" by email. I can stop them at any time.")
