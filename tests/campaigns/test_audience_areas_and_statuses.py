"""The audience filter's postcode areas (the stored area follows every change of a postcode) and its
"no membership, or one like this" condition, which the count at 100,000 contacts rests on."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.audiences import filters
from crm.contacts.models import Contact
from crm.extensions import db
from crm.staff import import_service
from tests.fixtures import csrf_token, make_contact, make_user
from tests.members_area.factories import sign_in
from tests.staff.conftest import make_membership, make_plan


def _matching(**raw: object) -> set[str]:
    wanted = filters.contact_ids(filters.clean(raw))
    return set(db.session.scalars(select(Contact.email).where(Contact.id.in_(wanted))))


@pytest.mark.parametrize(
    ("postcode", "area"),
    [("N1 9GU", "N"), ("n1 9gu", "N"), ("NW1 2AB", "NW"), ("E1W 1AA", "E"), ("SW1A 1AA", "SW"),
     ("LS1 4AB", "LS"), ("GIR 0AA", ""), ("", ""), ("12345", "1")],
)  # fmt: skip
def test_a_postcode_is_in_the_area_of_its_leading_letters(app, postcode, area):
    contact = make_contact("ana@example.org", postcode=postcode)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).postcode_area == area


def test_area_n_holds_n1_not_nw1_or_nn1_and_either_of_two_areas_matches(app):
    make_contact("n1@example.org", postcode="N1 9GU")
    make_contact("lower@example.org", postcode="n7 1aa")
    make_contact("nw1@example.org", postcode="NW1 2AB")
    make_contact("nn1@example.org", postcode="NN1 1AA")
    make_contact("e2@example.org", postcode="E2 8AA")
    make_contact("none@example.org", postcode="")
    db.session.commit()
    assert _matching(postcode_areas=["N"]) == {"n1@example.org", "lower@example.org"}
    assert _matching(postcode_areas=["nw"]) == {"nw1@example.org"}
    assert _matching(postcode_areas=["N", "E"]) == {"n1@example.org", "lower@example.org", "e2@example.org"}


def test_a_postcode_edited_by_staff_moves_the_contact_to_its_new_area(app, staff_client):
    contact = make_contact("ana@example.org", postcode="BS1 4DJ")
    db.session.commit()
    assert _matching(postcode_areas=["BS"]) == {"ana@example.org"}
    details = {"csrf_token": csrf_token(staff_client, f"/staff/members/{contact.id}"), "version": "1", "title": "", "first_name": "Ana", "last_name": "Torres", "email": "ana@example.org",
               "address_line1": "", "address_line2": "", "town": "Leeds", "postcode": "ls1 4ap", "country": "GB",
               "phone": ""}  # fmt: skip
    assert staff_client.post(f"/staff/members/{contact.id}/details", data=details).status_code == 302
    db.session.expire_all()
    assert _matching(postcode_areas=["BS"]) == set()
    assert _matching(postcode_areas=["LS"]) == {"ana@example.org"}


def test_a_postcode_the_member_edits_moves_them_to_its_new_area(app, client):
    user = make_user("ana@example.org", postcode="E2 8AA")
    sign_in(client, user)
    response = client.post("/account/details", data={
        "csrf_token": csrf_token(client, "/account/details"), "title": "", "first_name": "Ana", "last_name": "Torres",
        "email": "ana@example.org", "address_line1": "1 Road", "address_line2": "", "town": "London",
        "postcode": "NW1 2AB", "phone": "", "version": str(user.contact.version),
    })  # fmt: skip
    assert response.status_code == 302
    db.session.expire_all()
    assert _matching(postcode_areas=["E"]) == set()
    assert _matching(postcode_areas=["NW"]) == {"ana@example.org"}


def test_a_postcode_changed_by_an_import_moves_the_contact_and_new_contacts_get_their_area(app):
    make_contact("ana@example.org", postcode="N1 9GU")
    db.session.commit()
    csv = "email,postcode\r\nana@example.org,M1 1AA\r\nben@example.org,n4 2bb\r\n"
    import_service.import_members(csv, {"email": "email", "postcode": "postcode"}, source_name="areas.csv")
    db.session.commit()
    db.session.expire_all()
    assert _matching(postcode_areas=["M"]) == {"ana@example.org"}
    assert _matching(postcode_areas=["N"]) == {"ben@example.org"}


def test_no_membership_or_lapsed_now_matches_and_a_rejoined_member_is_not_lapsed(app):
    """Status is the contact's status now: "both" lapsed once and is active again, so not lapsed."""
    plan = make_plan("standard")
    make_contact("never@example.org")
    make_membership(make_contact("lapsed@example.org"), plan, "lapsed")
    active = make_contact("active@example.org")
    make_membership(active, plan, "active")
    both = make_contact("both@example.org")
    make_membership(both, plan, "lapsed")
    make_membership(both, make_plan("other"), "active")
    make_membership(make_contact("cancelled@example.org"), plan, "cancelled")
    db.session.commit()
    assert _matching(status=["none", "lapsed"]) == {"never@example.org", "lapsed@example.org"}
    assert _matching(status=["none"]) == {"never@example.org"}
    assert _matching(status=["lapsed"]) == {"lapsed@example.org"}
    assert _matching(status=["active"]) == {"active@example.org", "both@example.org"}
    # Plan and dates are any of their memberships: "both" is active now and held this plan.
    assert _matching(status=["none", "active"], plan_ids=[plan.id]) == {
        "never@example.org",
        "active@example.org",
        "both@example.org",
    }
