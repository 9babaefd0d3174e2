"""Joining on a joint plan: two adults at one address, one Checkout, one payment, two members."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.billing.models import Payment
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import make_contact
from tests.memberships.factories import make_membership, make_plans
from tests.memberships.joint import PARTNER, join_jointly, joint_form, make_joint_plan, membership_of
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    found["joint"] = make_joint_plan()
    db.session.commit()
    return found


def _count(model) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _welcomes() -> dict[str, OutboxMessage]:
    return {
        m.to_email: m
        for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "welcome"))
    }


def test_a_joint_join_makes_two_members_at_one_address_with_one_payment_and_two_welcomes(
    client, plans, stripe_sandbox
):
    primary, follower = join_jointly(client, stripe_sandbox, plans["joint"], gift_aid="y")

    assert len(stripe_sandbox.find("checkout.session")) == 1
    assert (primary.status, follower.status) == ("active", "active")
    assert follower.joint_primary_id == primary.id and follower.paid_through == primary.paid_through
    partner = follower.contact
    assert (partner.first_name, partner.last_name, partner.email) == ("Luis", "Ramos", "luis@example.org")
    assert (partner.address_line1, partner.town, partner.postcode) == ("1 High Street", "London", "N1 9GU")
    assert partner.member_number and partner.user is not None and partner.user.role == "member"

    payments = db.session.scalars(select(Payment)).all()
    assert [(p.contact_id, p.amount) for p in payments] == [(primary.contact_id, 5400)]
    assert not follower.stripe_subscription_id
    # Gift Aid is the payer's: the second adult makes no declaration and pays nothing.
    assert db.session.scalars(select(GiftAidDeclaration.contact_id)).all() == [primary.contact_id]

    welcomes = _welcomes()
    assert set(welcomes) == {"ana@example.org", "luis@example.org"}
    assert "Dear Luis" in welcomes["luis@example.org"].body_text
    assert "Ana Torres has made you a joint member" in welcomes["luis@example.org"].body_text
    assert "Your joint membership includes Luis Ramos" in welcomes["ana@example.org"].body_text
    assert welcomes["luis@example.org"].contact_id == partner.id


def test_each_adult_gets_the_welcome_in_their_own_language(client, plans, stripe_sandbox):
    make_contact("luis@example.org", first_name="Luis", last_name="Ramos", preferred_language="es")
    db.session.commit()
    join_jointly(client, stripe_sandbox, plans["joint"])
    welcomes = _welcomes()
    assert "Ana Torres te ha hecho miembro conjunto" in welcomes["luis@example.org"].body_text
    assert "Your joint membership includes Luis Ramos" in welcomes["ana@example.org"].body_text


def test_a_known_second_adult_is_not_rewritten_by_an_anonymous_form(client, plans, stripe_sandbox):
    make_contact("luis@example.org", first_name="Lucho", last_name="R", address_line1="9 Other Road")
    db.session.commit()
    _, follower = join_jointly(client, stripe_sandbox, plans["joint"])
    partner = follower.contact
    assert (partner.first_name, partner.address_line1) == ("Lucho", "9 Other Road")
    assert _count(Contact) == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"partner_first_name": ""}, "Enter the first name of the second adult."),
        ({"partner_last_name": ""}, "Enter the last name of the second adult."),
        ({"partner_email": ""}, "Enter the email address of the second adult."),
        ({"partner_email": "not-an-address"}, "Enter an email address like name@example.org."),
        ({"partner_email": "ANA@example.org "}, "Each adult needs their own email address"),
    ],
)
def test_the_joint_plan_asks_for_the_second_adult_and_bad_input_changes_nothing(
    client, plans, stripe_sandbox, changes, message
):
    response = client.post("/join", data=joint_form(plans["joint"], **changes))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert (_count(Contact), _count(Membership)) == (0, 0)
    assert stripe_sandbox.find("checkout.session") == []


def test_someone_already_a_member_cannot_be_named_as_the_second_adult(client, plans, stripe_sandbox):
    make_membership(make_contact("luis@example.org"), plans["standard-yearly"], "active")
    db.session.commit()
    response = client.post("/join", data=joint_form(plans["joint"]))
    assert "The second adult is already a member" in response.get_data(as_text=True)
    assert _count(Membership) == 1 and stripe_sandbox.find("checkout.session") == []


def test_a_plan_for_one_names_nobody_whatever_the_partner_fields_say(client, plans, stripe_sandbox):
    response = client.post("/join", data=joint_form(plans["standard-yearly"]))
    assert response.status_code == 303
    membership = membership_of("ana@example.org")
    assert membership.partner_contact_id is None
    assert _count(Contact) == 1


def test_going_back_keeps_the_second_adult_and_a_correction_is_what_becomes_a_member(
    client, plans, stripe_sandbox
):
    assert client.post("/join", data=joint_form(plans["joint"], partner_first_name="Lusi")).status_code == 303
    back = client.get("/join?cancelled=1").get_data(as_text=True)
    assert 'value="Lusi"' in back and 'value="luis@example.org"' in back

    fixed = joint_form(plans["joint"], partner_first_name="Luis")
    assert client.post("/join", data=fixed).status_code == 303
    assert len(stripe_sandbox.find("checkout.session")) == 2  # the first session named "Lusi"
    partner = db.session.scalar(select(Contact).where(Contact.email == "luis@example.org"))
    assert partner.first_name == "Luis"

    # Another second adult instead: the new one is named, the first is never made a member.
    other = joint_form(plans["joint"], partner_email="marta@example.org", partner_first_name="Marta")
    assert client.post("/join", data=other).status_code == 303
    primary = membership_of("ana@example.org")
    stripe_sandbox.pay(primary.stripe_checkout_session_id)
    deliver_webhooks(client)
    db.session.expire_all()
    assert membership_of("marta@example.org").status == "active"
    assert membership_of("luis@example.org") is None
    assert set(_welcomes()) == {"ana@example.org", "marta@example.org"}


def test_duplicated_and_shuffled_webhooks_make_the_second_adult_once(client, plans, stripe_sandbox):
    assert client.post("/join", data=joint_form(plans["joint"])).status_code == 303
    primary = membership_of("ana@example.org")
    stripe_sandbox.pay(primary.stripe_checkout_session_id)
    events = stripe_sandbox.take_events()
    responses = deliver_webhooks(client, events, duplicate=True, shuffle=3)
    responses += deliver_webhooks(client, list(reversed(events)))
    assert all(r.status_code == 200 for r in responses)
    client.get(f"/join/success?session_id={primary.stripe_checkout_session_id}")
    db.session.expire_all()

    partner_rows = db.session.scalars(
        select(Membership)
        .join(Contact, Contact.id == Membership.contact_id)
        .where(Contact.email == PARTNER["partner_email"])
    ).all()
    assert [(m.status, m.joint_primary_id) for m in partner_rows] == [("active", primary.id)]
    assert _count(Payment) == 1
    assert sorted(_welcomes()) == ["ana@example.org", "luis@example.org"]
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2


def test_staff_see_the_two_linked_and_both_as_members_and_the_second_adult_sees_no_card(
    client, plans, stripe_sandbox, staff_user
):
    from tests.fixtures import sign_in_as

    primary, follower = join_jointly(client, stripe_sandbox, plans["joint"])
    payer_id, partner_id = primary.contact_id, follower.contact_id
    partner_user = follower.contact.user

    sign_in_as(client, partner_user)
    account = client.get("/account").get_data(as_text=True)
    assert "You are the joint member with Ana Torres" in account
    assert "Manage card and auto-renewal" not in account and "Cancel auto-renewal" not in account
    # Renewal is the payer's: the second adult reads who renews, not an auto-renewal of their own.
    assert "Ana Torres renews it for you both" in account and "Auto-renewal</dt>" not in account
    assert client.get("/auto-renew/cancel").status_code == 404

    sign_in_as(client, staff_user)
    payer_page = client.get(f"/staff/members/{payer_id}").get_data(as_text=True)
    assert f'Joint membership with <a href="/staff/members/{partner_id}">Luis Ramos</a>' in payer_page
    partner_page = client.get(f"/staff/members/{partner_id}").get_data(as_text=True)
    assert f'Joint membership with <a href="/staff/members/{payer_id}">Ana Torres</a>' in partner_page
    listed = client.get("/staff/members?status=active").get_data(as_text=True)
    assert "Torres, Ana" in listed and "Ramos, Luis" in listed
    exported = client.get("/staff/members/export.csv?status=active").get_data(as_text=True)
    assert "ana@example.org" in exported and "luis@example.org" in exported
