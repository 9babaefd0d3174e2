"""A contact's preferred language is set where their details are: the join form (the page's
language unless they choose), the switch when signed in, the staff edit form and the import."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.extensions import db
from crm.staff import import_service
from tests.fixtures import csrf_token, make_contact, make_user, sign_in_as
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.staff.test_member_page import DETAILS


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def test_joining_from_the_spanish_page_keeps_spanish_for_their_emails(client, plans, stripe_sandbox) -> None:  # type: ignore[no-untyped-def]
    client.get("/language/es")
    page = client.get("/join").get_data(as_text=True)
    assert '<option selected value="es">Español</option>' in page
    data = {**form(plans), "csrf_token": csrf_token(client, "/join"), "preferred_language": "es"}
    assert client.post("/join", data=data).status_code == 303
    assert db.session.scalar(select(Contact.preferred_language)) == "es"


def test_the_switch_of_a_signed_in_contact_becomes_their_email_language(client) -> None:  # type: ignore[no-untyped-def]
    user = make_user("ana@example.org")
    sign_in_as(client, user)
    page = client.get("/account").get_data(as_text=True)
    assert 'name="language" value="es"' in page  # the switch is a button (POST, CSRF) when signed in
    token = csrf_token(client, "/account")
    response = client.post("/language", data={"csrf_token": token, "language": "es", "next": "/account"})
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    db.session.expire_all()
    assert db.session.get(Contact, user.contact_id).preferred_language == "es"
    assert "Mi cuenta" in client.get("/account").get_data(as_text=True)
    assert client.post("/language", data={"language": "es"}).status_code == 400  # no CSRF token


def test_staff_set_the_language_of_a_contacts_emails(staff_client) -> None:  # type: ignore[no-untyped-def]
    contact = make_contact("ana.old@example.org")
    db.session.commit()
    page = staff_client.get(f"/staff/members/{contact.id}").get_data(as_text=True)
    assert 'name="preferred_language"' in page
    token = csrf_token(staff_client, f"/staff/members/{contact.id}")
    data = {**DETAILS, "csrf_token": token, "preferred_language": "es"}
    assert staff_client.post(f"/staff/members/{contact.id}/details", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).preferred_language == "es"


def test_an_import_maps_a_language_column(app) -> None:  # type: ignore[no-untyped-def]
    text = (
        "Email,First name,Surname,Idioma\r\n"
        "maria@example.org,María José,Quispe Mamani,Español\r\n"
        "sean@example.org,Seán,O'Brien,\r\n"
        "bad@example.org,Bad,Row,Klingon\r\n"
    )
    mapping = import_service.guess_mapping(["Email", "First name", "Surname", "Idioma"])
    assert mapping["preferred_language"] == "Idioma"
    result = import_service.import_members(text, mapping, source_name="list.csv")
    db.session.commit()
    languages = dict(db.session.execute(select(Contact.email, Contact.preferred_language)).all())
    assert languages == {"maria@example.org": "es", "sean@example.org": "en"}
    assert any("language" in str(error) for error in result.errors)
    names = dict(db.session.execute(select(Contact.email, Contact.last_name)).all())
    assert names["maria@example.org"] == "Quispe Mamani" and names["sean@example.org"] == "O'Brien"
