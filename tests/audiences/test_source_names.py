"""Staff read how a contact came to us in words (the audience builder, the members filter, the
contact's page), in the page's language; demo and seed data appear only where such contacts exist,
and then under a label that says they are development data, never as if they were a channel."""

from __future__ import annotations

import re

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.extensions import db
from devtools.seed import seed_bench_command
from tests.fixtures import csrf_token

CHANNEL_NAMES = ["Join form", "Donation form", "Subscribe form", "Event booking", "Import", "Added by staff"]


def _source_choices(page: str) -> list[str]:
    """The labels of the audience builder's "How they came to us" tick boxes, in order."""
    fieldset = page[page.index('name="sources"') - 2000 :]
    return re.findall(r'<input [^>]*name="sources"[^>]*>\s*<label for="[^"]+">([^<]+)</label>', fieldset)


def _member_filter_choices(page: str) -> list[str]:
    select_html = re.search(r'<select [^>]*name="source"[^>]*>(.*?)</select>', page, re.S)
    assert select_html, "no source filter on the members list"
    return re.findall(r"<option [^>]*>([^<]+)</option>", select_html.group(1))


def _subscribe(app, email: str) -> Contact:  # type: ignore[no-untyped-def]
    visitor = app.test_client()
    token = csrf_token(visitor, "/subscribe")
    answer = visitor.post(
        "/subscribe", data={"csrf_token": token, "first_name": "Sol", "email": email, "consent": "y"}
    )
    assert answer.status_code in (200, 302), answer.status_code
    contact = db.session.scalar(select(Contact).where(Contact.email == email))
    assert contact is not None
    return contact


def test_the_builder_names_the_real_channels_and_no_development_data_when_there_is_none(app, staff_client):  # type: ignore[no-untyped-def]
    page = staff_client.get("/staff/audiences").get_data(as_text=True)
    assert _source_choices(page) == CHANNEL_NAMES
    assert not re.search(r">\s*(Demo|Seed|demo|seed)\s*<", page)
    assert "development only" not in page
    members = staff_client.get("/staff/members").get_data(as_text=True)
    assert _member_filter_choices(members) == ["Any", *CHANNEL_NAMES]


def test_seeded_contacts_are_offered_as_development_data_and_can_still_be_counted(app, staff_client, runner):  # type: ignore[no-untyped-def]
    result = runner.invoke(seed_bench_command, ["--contacts", "6", "--posts", "0"])  # on top of the demo data
    assert result.exit_code == 0, result.output
    page = staff_client.get("/staff/audiences?sources=seed").get_data(as_text=True)
    development = ["Demo data (development only)", "Benchmark seed data (development only)"]
    assert _source_choices(page) == [*CHANNEL_NAMES, *development]
    assert "6 contacts match" in page
    assert re.search(r'<input checked [^>]*value="seed"|<input [^>]*value="seed"[^>]*checked', page)
    members = staff_client.get("/staff/members").get_data(as_text=True)
    assert _member_filter_choices(members) == ["Any", *CHANNEL_NAMES, *development]
    seeded = db.session.scalars(select(Contact.id).where(Contact.source == "seed")).first()
    contact_page = staff_client.get(f"/staff/members/{seeded}").get_data(as_text=True)
    assert "<dt>Came to us through</dt><dd>Benchmark seed data (development only)</dd>" in contact_page


def test_a_contact_page_says_which_form_they_came_through(app, staff_client):  # type: ignore[no-untyped-def]
    contact = _subscribe(app, "sol@example.org")
    page = staff_client.get(f"/staff/members/{contact.id}").get_data(as_text=True)
    assert "<dt>Came to us through</dt><dd>Subscribe form</dd>" in page
    assert "Came to us through: <strong>Subscribe form</strong>" in page
    assert ">subscribe<" not in page


def test_a_spanish_reader_gets_the_channels_in_spanish(app, staff_client):  # type: ignore[no-untyped-def]
    staff_client.set_cookie("lang", "es")
    page = staff_client.get("/staff/audiences").get_data(as_text=True)
    assert _source_choices(page) == [
        "Formulario de afiliación",
        "Formulario de donativos",
        "Formulario de suscripción",
        "Reserva para un evento",
        "Importación",
        "Añadido por el personal",
    ]


def test_the_contact_page_says_in_words_where_each_consent_and_declaration_was_recorded(app, staff_client):  # type: ignore[no-untyped-def]
    from crm.contacts import consent
    from crm.contacts.models import GiftAidDeclaration
    from tests.fixtures import make_contact

    contact = make_contact("words@example.org", first_name="Rosa")
    consent.record_consent(
        contact, "phone", "appeals", True, source="staff_phone", wording="Asked on the phone"
    )
    consent.record_consent(contact, "email", "news", True, source="subscribe", wording="Yes, send me news")
    consent.record_consent(contact, "email", "news", False, source="list_unsubscribe", wording="One-click")
    db.session.add(GiftAidDeclaration(contact_id=contact.id, source="account", house="2", postcode="LS1 4AP"))
    db.session.commit()

    page = staff_client.get(f"/staff/members/{contact.id}").get_data(as_text=True)
    history = page[page.index("Consent history") :]
    assert "Phone calls, fundraising appeals: given" in history
    assert "through staff, on the phone" in history
    assert "Email, news and updates: withdrawn" in history
    assert "through one-click unsubscribe in their mail app" in history
    assert "through subscribe form" in history
    assert "<td>their account page</td>" in page
    for code in ("staff_phone", "list_unsubscribe", ">account<", "via "):
        assert code not in page, code
