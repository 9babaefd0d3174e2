"""The join form: every field checked on the server; bad input stores nothing and calls no one."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership
from tests.memberships.factories import make_plans

VALID = {
    "title": "Ms",
    "first_name": "Ana",
    "last_name": "Torres",
    "email": "ana@example.org",
    "address_line1": "1 High Street",
    "address_line2": "",
    "town": "London",
    "postcode": "N1 9GU",
    "country": "GB",
    "phone": "",
    "donation": "",
}


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def form(plans, **changes: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    data = {**VALID, "plan": str(plans["standard-yearly"].id)}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(Contact.id))) or 0,
        db.session.scalar(select(func.count(Membership.id))) or 0,
    )


def test_join_page_lists_active_plans_and_an_unticked_consent(client, plans):
    plans["organisation-yearly"].active = False
    db.session.commit()
    html = client.get("/join").get_data(as_text=True)
    assert "Standard (yearly)" in html and "£36.00" in html and "Life" in html
    assert "Organisation (yearly)" not in html
    assert 'name="email_updates"' in html
    assert 'name="email_updates" type="checkbox" value="y" checked' not in html
    assert "I am a UK taxpayer" in html
    assert 'href="/pages/privacy"' in html


def test_join_link_can_preselect_a_plan(client, plans):
    html = client.get("/join?plan=monthly").get_data(as_text=True)
    assert f'value="{plans["monthly"].id}" checked' in html


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"first_name": ""}, "first_name", "Enter your first name."),
        ({"first_name": "A" * 101}, "first_name", "First name must be 100 characters or fewer."),
        ({"last_name": ""}, "last_name", "Enter your last name."),
        ({"last_name": "B" * 101}, "last_name", "Last name must be 100 characters or fewer."),
        ({"email": ""}, "email", "Enter your email address."),
        ({"email": "not-an-email"}, "email", "Enter an email address like name@example.org."),
        ({"email": "a@b"}, "email", "Enter an email address like name@example.org."),
        ({"email": "x" * 250 + "@example.org"}, "email", "254 characters or fewer"),
        ({"address_line1": ""}, "address_line1", "Enter the first line of your address."),
        ({"address_line1": "x" * 201}, "address_line1", "200 characters or fewer"),
        ({"address_line2": "x" * 201}, "address_line2", "200 characters or fewer"),
        ({"town": ""}, "town", "Enter your town or city."),
        ({"town": "x" * 101}, "town", "100 characters or fewer"),
        ({"postcode": ""}, "postcode", "Enter your postcode."),
        ({"postcode": "ZZZZ"}, "postcode", "Enter a UK postcode like N1 9GU."),
        ({"country": "XX"}, "country", "Not a valid choice"),
        ({"phone": "call me maybe"}, "phone", "Enter a phone number"),
        ({"phone": "1" * 41}, "phone", "40 characters or fewer"),
        ({"title": "Emperor"}, "title", "Not a valid choice"),
        ({"plan": ""}, "plan", "Choose a membership plan."),
        ({"plan": "99999"}, "plan", "Choose one of the plans shown."),
        ({"plan": "1 OR 1=1"}, "plan", "Choose one of the plans shown."),
        ({"donation": "-5"}, "donation", "Enter an amount in pounds"),
        ({"donation": "abc"}, "donation", "Enter an amount in pounds"),
        ({"donation": "5.555"}, "donation", "Enter an amount in pounds"),
        ({"donation": "0.50"}, "donation", "Enter an amount between £1.00 and £10,000.00."),
        ({"donation": "9999999"}, "donation", "Enter an amount between"),
        ({"first_name": "Ana\nEvil"}, "first_name", "special characters"),
    ],
)
def test_bad_input_is_shown_beside_the_field_and_stores_nothing(client, plans, changes, field, message):
    response = client.post("/join", data=form(plans, **changes))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "There is a problem" in html
    assert f'href="#{field}"' in html
    assert message.replace("'", "&#39;") in html
    assert counts() == (0, 0)


def test_values_are_kept_when_the_form_has_an_error(client, plans):
    html = client.post("/join", data=form(plans, email="broken", town="Leeds <b>")).get_data(as_text=True)
    assert 'value="Leeds &lt;b&gt;"' in html
    assert 'value="broken"' in html
    assert f'value="{plans["standard-yearly"].id}" checked' in html


def test_gift_aid_needs_a_uk_postcode(client, plans):
    html = client.post("/join", data=form(plans, gift_aid="y", country="IE", postcode="D02 X285")).get_data(
        as_text=True
    )
    assert "Gift Aid needs a UK home address with a UK postcode." in html
    assert counts() == (0, 0)


def test_gift_aid_is_refused_on_an_ineligible_plan_without_a_donation(client, plans):
    html = client.post(
        "/join", data=form(plans, plan=str(plans["organisation-yearly"].id), gift_aid="y")
    ).get_data(as_text=True)
    assert "Gift Aid cannot be claimed on this plan without a donation." in html


def test_an_inactive_plan_cannot_be_chosen_by_forging_its_id(client, plans):
    plans["life"].active = False
    db.session.commit()
    html = client.post("/join", data=form(plans, plan=str(plans["life"].id))).get_data(as_text=True)
    assert "Choose one of the plans shown." in html
    assert counts() == (0, 0)


def test_an_active_member_is_told_to_sign_in_not_asked_to_pay(client, plans):
    from tests.fixtures import make_contact
    from tests.memberships.factories import make_membership

    contact = make_contact("ana@example.org")
    make_membership(contact, plans["standard-yearly"], "active")
    db.session.commit()
    html = client.post("/join", data=form(plans)).get_data(as_text=True)
    assert "You are already a member. Please" in html
    assert 'href="/login?next=' in html and ">sign in</a>" in html  # a link, not just words
    assert counts() == (1, 1)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("ana@gmial.com", "ana@gmail.com"),
        ("ana@gmail.con", "ana@gmail.com"),
        ("ana@hotmial.com", "ana@hotmail.com"),
        ("ana@yaho.com", "ana@yahoo.com"),
        ("ana@outlok.com", "ana@outlook.com"),
        ("ana@example.org", None),
        ("ana@gmail.com", None),
    ],
)
def test_common_email_domain_typos_are_suggested(typed, meant):
    from crm.join.email_typos import suggest_email

    assert suggest_email(typed) == meant


def test_a_mistyped_email_domain_asks_did_you_mean_once_then_keeps_what_was_typed(
    client, plans, stripe_sandbox
):
    first = client.post("/join", data=form(plans, email="ana@gmial.con"))
    html = first.get_data(as_text=True)
    assert "Did you mean ana@gmail.com?" in html
    assert counts() == (0, 0)
    assert 'name="email_checked" type="hidden" value="ana@gmial.con"' in html
    again = client.post("/join", data=form(plans, email="ana@gmial.con", email_checked="ana@gmial.con"))
    assert again.status_code == 303  # the person insisted: their address is kept


def test_join_page_copy_says_each_thing_once_and_in_full(client, plans):
    import re

    html = client.get("/join").get_data(as_text=True)
    eligible = sum(1 for p in plans.values() if p.gift_aid_eligible)
    assert eligible > 1 and html.count("Gift Aid can be claimed") == 1  # once, not under each plan
    consent = re.search(r'<label for="email_updates">([^<]+)</label>', html)
    assert consent and "send me news and campaign updates" in consent.group(1)
    assert html.count("send me news and campaign updates") == 1  # the label is not repeated as a hint
    assert (
        '<option selected value="">Choose</option>' in html
        or '<option value="" selected>Choose</option>' in html
    )
