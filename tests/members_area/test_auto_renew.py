"""Cancelling and resuming auto-renewal, and the Stripe Customer Portal, against the Stripe sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.accounts.models import User
from crm.contacts.models import Contact
from crm.core.types import utcnow
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import csrf_token, make_user
from tests.members_area.factories import make_membership, sign_in, subscribe_in_sandbox


@dataclass
class Subscribed:
    user: User
    subscription_id: str
    customer_id: str


@pytest.fixture
def subscribed(active_member, plan, stripe_sandbox) -> Subscribed:  # type: ignore[no-untyped-def]
    """Ana, active, with a real sandbox subscription and customer behind her membership."""
    membership = _membership(active_member)
    contact = db.session.get(Contact, active_member.contact_id)
    contact.stripe_customer_id = None  # the fixture's made-up id: the sandbox makes a real one
    membership.stripe_subscription_id = subscribe_in_sandbox(contact, plan, stripe_sandbox).subscription_id
    db.session.commit()
    return Subscribed(active_member, membership.stripe_subscription_id, contact.stripe_customer_id)


def _membership(user) -> Membership:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return db.session.scalar(select(Membership).where(Membership.contact_id == user.contact_id))


def _renewal_changes(sandbox, sub_id: str) -> list[bool]:  # type: ignore[no-untyped-def]
    """Each change Stripe made to the subscription's cancel-at-period-end flag: the new value."""
    return [
        e["data"]["object"]["cancel_at_period_end"]
        for e in sandbox.events("customer.subscription.updated")
        if e["data"]["object"]["id"] == sub_id
        and "cancel_at_period_end" in e["data"].get("previous_attributes", {})
    ]


def _cancel(client):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/account/auto-renew/cancel")
    return client.post("/account/auto-renew/cancel", data={"csrf_token": token}, follow_redirects=True)


def test_cancel_auto_renewal_is_confirmed_then_effective_at_period_end(client, subscribed, stripe_sandbox):
    sign_in(client, subscribed.user)
    confirm = client.get("/account/auto-renew/cancel").get_data(as_text=True)
    assert "Cancel auto-renewal?" in confirm
    assert "paid for.You" not in confirm and "paid for. You can" in confirm
    token = csrf_token(client, "/account/auto-renew/cancel")
    response = client.post("/account/auto-renew/cancel", data={"csrf_token": token})
    assert response.status_code == 302
    membership = _membership(subscribed.user)
    assert membership.auto_renew is False
    assert membership.status == "active"
    assert stripe_sandbox.object(subscribed.subscription_id)["cancel_at_period_end"] is True
    email = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "cancellation_confirmed"))
    assert email.to_email == "ana@example.org"
    assert "will not renew" in email.subject
    html = client.get("/account").get_data(as_text=True)
    assert "Ends on" in html
    assert "Turn auto-renewal back on" in html


def test_cancelling_twice_changes_the_subscription_once_and_sends_one_email(
    client, subscribed, stripe_sandbox
):
    sign_in(client, subscribed.user)
    token = csrf_token(client, "/account/auto-renew/cancel")
    client.post("/account/auto-renew/cancel", data={"csrf_token": token})
    client.post("/account/auto-renew/cancel", data={"csrf_token": token})
    assert _renewal_changes(stripe_sandbox, subscribed.subscription_id) == [True]
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1


def test_auto_renewal_can_be_turned_back_on_and_cancelled_again(client, subscribed, stripe_sandbox):
    sign_in(client, subscribed.user)
    token = csrf_token(client, "/account/auto-renew/cancel")
    client.post("/account/auto-renew/cancel", data={"csrf_token": token})
    response = client.post("/account/auto-renew/resume", data={"csrf_token": token})
    assert response.status_code == 302
    assert _membership(subscribed.user).auto_renew is True
    assert stripe_sandbox.object(subscribed.subscription_id)["cancel_at_period_end"] is False
    # A second cancel is a new request to Stripe (not a replay of the first one's answer).
    client.post("/account/auto-renew/cancel", data={"csrf_token": token})
    assert _membership(subscribed.user).auto_renew is False
    assert _renewal_changes(stripe_sandbox, subscribed.subscription_id) == [True, False, True]


def test_stripe_failure_changes_nothing_and_says_so(client, subscribed, stripe_sandbox):
    stripe_sandbox.fail_next("/v1/subscriptions", "error_500")
    sign_in(client, subscribed.user)
    html = _cancel(client).get_data(as_text=True)
    assert "Our payment provider could not complete that" in html
    assert _membership(subscribed.user).auto_renew is True
    assert stripe_sandbox.object(subscribed.subscription_id)["cancel_at_period_end"] is False
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_manage_card_redirects_to_the_stripe_portal(client, subscribed, stripe_sandbox):
    sign_in(client, subscribed.user)
    token = csrf_token(client, "/account")
    response = client.post("/account/billing-portal", data={"csrf_token": token})
    assert response.status_code == 303
    portal_id = response.headers["Location"].rsplit("/", 1)[-1]
    portal = stripe_sandbox.object(portal_id)
    assert response.headers["Location"] == portal["url"]
    assert portal["customer"] == subscribed.customer_id
    assert portal["return_url"] == "http://crm.test/account"


def test_manage_card_without_a_stripe_customer_explains(client, lapsed_member, stripe_sandbox):
    sign_in(client, lapsed_member)
    token = csrf_token(client, "/account")
    response = client.post("/account/billing-portal", data={"csrf_token": token}, follow_redirects=True)
    assert "no card on file" in response.get_data(as_text=True)
    assert stripe_sandbox.find("billing_portal.session") == []


def test_lapsed_member_cannot_cancel_auto_renewal(client, lapsed_member, stripe_sandbox):
    sign_in(client, lapsed_member)
    response = client.get("/account/auto-renew/cancel")
    assert response.status_code == 302
    assert stripe_sandbox.events("customer.subscription.updated") == []  # no Stripe call at all


def test_cancelling_in_grace_names_the_grace_end_not_a_past_date_and_no_dead_end(client, plan):
    """In grace the paid-for period is over: the page gives the date access ends, and renewing
    from the account (not "please contact us") as the way on."""
    user = make_user("gina@example.org", first_name="Gina", last_name="Grace")
    membership = make_membership(user.contact, plan, "grace", paid_days=-5)
    membership.grace_until = utcnow() + timedelta(days=25)
    db.session.commit()
    sign_in(client, user)
    page = client.get("/account/auto-renew/cancel").get_data(as_text=True)
    grace_end = membership.grace_until.strftime("%-d %B %Y")
    paid_through = membership.paid_through.strftime("%-d %B %Y")
    assert f"You keep members' access until <strong>{grace_end}</strong>" in page
    assert paid_through not in page
    assert "please contact us" not in page
    assert "You can renew from your account" in page


def test_cancelling_in_grace_confirms_the_grace_end_on_the_page_and_in_the_email(client, plan):
    user = make_user("gil@example.org", first_name="Gil", last_name="Grace")
    membership = make_membership(user.contact, plan, "grace", paid_days=-5)
    membership.grace_until = utcnow() + timedelta(days=25)
    membership.auto_renew = True
    db.session.commit()
    grace_end = membership.grace_until
    sign_in(client, user)
    token = csrf_token(client, "/account/auto-renew/cancel")
    answer = client.post("/account/auto-renew/cancel", data={"csrf_token": token}, follow_redirects=True)
    page = answer.get_data(as_text=True)
    assert f"You keep members&#39; access until {grace_end.strftime('%-d %B %Y')}" in page
    assert "the end of the period you have paid for" not in page
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "cancellation_confirmed"))
    assert mail is not None and grace_end.strftime("%-d %B %Y") in mail.body_text
