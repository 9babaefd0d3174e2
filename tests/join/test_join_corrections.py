"""Going back from Checkout to correct the form: the corrections are what gets paid for and kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact, GiftAidDeclaration
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import make_contact
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def _cookie(app, client) -> dict:  # type: ignore[no-untyped-def,type-arg]
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    if cookie is None:
        return {}
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def test_corrections_after_going_back_are_kept_in_the_record_the_welcome_and_the_gift_aid(
    client, plans, stripe_sandbox
):
    typo = form(plans, first_name="Jorj", address_line1="5 Hihg St", gift_aid="y")
    assert client.post("/join", data=typo).status_code == 303
    first_session = db.session.scalar(select(Membership.stripe_checkout_session_id))
    back = client.get("/join?cancelled=1").get_data(as_text=True)
    assert 'value="Jorj"' in back and 'value="5 Hihg St"' in back

    fixed = form(plans, first_name="Jorge", address_line1="5 High St", gift_aid="y")
    assert client.post("/join", data=fixed).status_code == 303
    sessions = stripe_sandbox.find("checkout.session")
    assert len(sessions) == 2  # the first session had the old details
    membership = db.session.scalar(select(Membership))
    assert membership.stripe_checkout_session_id != first_session
    assert db.session.scalar(select(func.count(Contact.id))) == 1

    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    deliver_webhooks(client)
    db.session.expire_all()
    contact = db.session.scalar(select(Contact))
    assert (contact.first_name, contact.address_line1) == ("Jorge", "5 High St")
    assert stripe_sandbox.object(contact.stripe_customer_id)["name"] == "Jorge Torres"
    welcome = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "welcome"))
    assert "Dear Jorge" in welcome.body_text and "Jorj" not in welcome.body_text
    assert db.session.scalar(select(GiftAidDeclaration.house)) == "5 High St"


def test_an_anonymous_join_does_not_fill_blank_fields_of_an_existing_contact(client, plans, stripe_sandbox):
    make_contact("ana@example.org", first_name="Ana", last_name="Original", phone="", town="")
    db.session.commit()
    client.post("/join", data=form(plans, last_name="Changed", phone="020 7946 0000", town="Leeds"))
    client.post("/join", data=form(plans, last_name="Again", phone="020 7946 0001", town="York"))
    db.session.expire_all()
    contact = db.session.scalar(select(Contact))
    assert (contact.last_name, contact.phone, contact.town) == ("Original", "", "")
    # Going back does not show the existing record's details to whoever typed its email.
    back = client.get("/join?cancelled=1").get_data(as_text=True)
    assert "Original" not in back


def test_another_browser_cannot_correct_a_contact_it_did_not_create(app, client, plans, stripe_sandbox):
    client.post("/join", data=form(plans, first_name="Jorge"))
    other = app.test_client()
    other.post("/join", data=form(plans, first_name="Mallory"))
    db.session.expire_all()
    assert db.session.scalar(select(Contact.first_name)) == "Jorge"


def test_join_details_are_not_kept_in_the_session_cookie(app, client, plans, stripe_sandbox):
    client.post("/join", data=form(plans, first_name="Jorge", phone="020 7946 0000"))
    stored = repr(_cookie(app, client))
    for detail in ("Jorge", "Torres", "ana@example.org", "High Street", "N1 9GU", "7946"):
        assert detail not in stored


def test_a_new_members_history_says_what_happened_in_plain_words(client, plans, stripe_sandbox):
    from tests.members_area.factories import sign_in

    client.post("/join", data=form(plans))
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    deliver_webhooks(client)
    db.session.expire_all()
    sign_in(client, db.session.scalar(select(Contact)).user)
    html = client.get("/account").get_data(as_text=True)
    assert "(pending to active)" not in html
    assert "your payment arrived and your membership started" in html
