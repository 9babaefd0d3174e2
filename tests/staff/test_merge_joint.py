"""Merging contacts when one of them is in a joint membership: a duplicate of either adult hands
its part of the joint membership to the contact kept; merging the two adults is refused."""

from __future__ import annotations

import pytest

from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import make_contact, sign_in_as
from tests.memberships.joint import join_jointly, make_joint_plan


@pytest.fixture
def couple(app, stripe_sandbox):  # type: ignore[no-untyped-def]
    plan = make_joint_plan()
    db.session.commit()
    return join_jointly(app.test_client(), stripe_sandbox, plan)


def merge(staff_client, kept_id: int, other_id: int):  # type: ignore[no-untyped-def]
    return staff_client.post(
        f"/staff/members/{kept_id}/merge", data={"merge-other": str(other_id), "merge-confirm": "y"}
    )


@pytest.mark.parametrize("payer_kept", [True, False])
def test_merging_the_two_adults_of_a_joint_membership_is_refused_saying_why(staff_client, couple, payer_kept):  # type: ignore[no-untyped-def]
    primary, follower = couple
    kept, other = (primary, follower) if payer_kept else (follower, primary)
    response = merge(staff_client, kept.contact_id, other.contact_id)
    assert response.status_code == 409
    assert "own joint partner" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, other.contact_id) is not None
    assert db.session.get(Membership, primary.id).partner_contact_id == follower.contact_id


def test_merging_a_duplicate_of_the_second_adult_moves_the_joint_link_to_the_contact_kept(
    staff_client, couple, app
):  # type: ignore[no-untyped-def]
    primary, follower = couple
    older = make_contact("luis.ramos@example.org", first_name="Luis", last_name="Ramos")
    db.session.commit()
    assert merge(staff_client, older.id, follower.contact_id).status_code == 302
    db.session.expire_all()
    assert db.session.get(Membership, primary.id).partner_contact_id == older.id
    moved = db.session.get(Membership, follower.id)
    assert moved.contact_id == older.id and moved.joint_primary_id == primary.id
    payer_page = staff_client.get(f"/staff/members/{primary.contact_id}").get_data(as_text=True)
    assert f'href="/staff/members/{older.id}"' in payer_page and "Joint membership with" in payer_page
    partner = app.test_client()
    sign_in_as(partner, db.session.get(Contact, older.id).user)
    assert "You are the joint member with Ana Torres" in partner.get("/account").get_data(as_text=True)
