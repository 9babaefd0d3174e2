"""A failed payment tells the member once, with a one-click link to fix their card or bank details."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def failed_emails() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "payment_failed")))


def member_whose_renewal_failed(client, plans, sandbox) -> Membership:  # type: ignore[no-untyped-def]
    client.post("/join", data=form(plans))
    membership = db.session.scalar(select(Membership))
    sandbox.pay(membership.stripe_checkout_session_id)
    deliver_webhooks(client)
    db.session.expire_all()
    membership = db.session.get(Membership, membership.id)
    sandbox.fail_renewal(membership.stripe_subscription_id)
    deliver_webhooks(client, duplicate=True)
    return membership


def update_link(message: OutboxMessage) -> str:
    found = re.search(r"http://crm\.test(/billing/update-payment-details/\S+)", message.body_text)
    assert found, message.body_text
    return found.group(1)


def test_the_failed_payment_email_links_straight_to_the_stripe_billing_portal(client, plans, stripe_sandbox):
    membership = member_whose_renewal_failed(client, plans, stripe_sandbox)
    [message] = failed_emails()
    assert "Update your card or bank details in one click" in message.body_text
    client.get("/logout")  # no sign-in needed
    response = client.get(update_link(message))
    assert response.status_code == 303
    portal = stripe_sandbox.find("billing_portal.session")
    assert len(portal) == 1 and portal[0]["customer"] == membership.contact.stripe_customer_id
    assert response.headers["Location"] == portal[0]["url"]


def test_one_email_per_failure_however_often_stripe_retries_or_redelivers(client, plans, stripe_sandbox):
    membership = member_whose_renewal_failed(client, plans, stripe_sandbox)
    stripe_sandbox.fail_renewal(membership.stripe_subscription_id)  # Stripe's retry of the same invoice
    deliver_webhooks(client, duplicate=True)
    assert len(failed_emails()) == 1


def test_a_tampered_or_expired_link_opens_nothing(client, plans, stripe_sandbox):
    import time_machine

    member_whose_renewal_failed(client, plans, stripe_sandbox)
    link = update_link(failed_emails()[0])
    response = client.get(link[:-3] + "abc")
    assert response.status_code == 404 and "This link no longer works" in response.get_data(as_text=True)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=22), tick=False):
        assert client.get(link).status_code == 404
    assert stripe_sandbox.find("billing_portal.session") == []
