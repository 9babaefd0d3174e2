"""Staff find people as they type them: without accents, in any case (issue 23 item 4), on the
search index (three letters or more) and on the short-query scan alike, on both databases."""

from __future__ import annotations

import pytest

from crm.core.text import fold
from crm.extensions import db
from crm.staff.member_search import search_page
from crm.staff.search import search_contacts
from tests.fixtures import make_contact

PEOPLE = (
    ("maria.quispe@example.org", "María José", "Quispe Mamani"),
    ("l.lopez@example.org", "Luis", "López"),
    ("a.munoz@example.org", "Ana", "Muñoz"),
    ("e.mejia@example.org", "Elena", "Mejía"),
    ("r.rodriguez@example.org", "Rosa", "Rodríguez"),
    ("g.gomez@example.org", "Gabriel", "Gómez"),
    ("p.perez@example.org", "Pilar", "Pérez"),
    ("s.obrien@example.org", "Seán", "O'Brien"),
)


@pytest.fixture
def people(app):  # type: ignore[no-untyped-def]
    for email, first, last in PEOPLE:
        make_contact(email, first_name=first, last_name=last, postcode="N1 1AA")
    make_contact("plain@example.org", first_name="Lola", last_name="Smith", postcode="E1 6AN")
    db.session.commit()


def _surnames(query: str) -> list[str]:
    return sorted(contact.last_name for contact in search_contacts(query))


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("lopez", ["López"]),
        ("LOPEZ", ["López"]),
        ("López", ["López"]),
        ("munoz", ["Muñoz"]),
        ("mejia", ["Mejía"]),
        ("rodriguez", ["Rodríguez"]),
        ("gomez", ["Gómez"]),
        ("perez", ["Pérez"]),
        ("maria jose", ["Quispe Mamani"]),
        ("quispe mamani", ["Quispe Mamani"]),
        ("o'brien", ["O'Brien"]),
        ("sean", ["O'Brien"]),
    ],
)
def test_a_surname_typed_without_accents_finds_the_person(people, typed, found):  # type: ignore[no-untyped-def]
    assert _surnames(typed) == found


def test_a_short_query_scan_folds_accents_too(people):  # type: ignore[no-untyped-def]
    """Two letters cannot use the trigram index: the LIKE scan must fold the same way."""
    assert "Muñoz" in _surnames("uñ") and "Muñoz" in _surnames("un")


def test_the_members_page_search_finds_accented_names(people, staff_client):  # type: ignore[no-untyped-def]
    total, ids = search_page("perez", cap=100, per_page=20, page=1)
    assert total == 1 and len(ids) == 1
    page = staff_client.get("/staff/members?q=rodriguez").get_data(as_text=True)
    assert "Rodríguez" in page  # shown as written, found as typed


def test_an_edited_name_is_found_by_its_new_spelling_without_accents(people):  # type: ignore[no-untyped-def]
    from crm.contacts.models import Contact

    contact = db.session.query(Contact).filter_by(email="plain@example.org").one()
    contact.last_name = "Núñez"
    db.session.commit()
    assert _surnames("nunez") == ["Núñez"]


def test_fold_matches_what_the_index_holds():
    assert fold("María José QUISPE Muñoz Çelik") == "maria jose quispe munoz celik"
