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


def monthly_member(client, plans, sandbox) -> Membership:  # type: ignore[no-untyped-def]
    client.post("/join", data=form(plans, plan=str(plans["monthly"].id)))
    membership = db.session.scalar(select(Membership))
    sandbox.pay(membership.stripe_checkout_session_id)
    deliver_webhooks(client)
    db.session.expire_all()
    return db.session.get(Membership, membership.id)


def card_notices() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "card_expiring")))


def test_a_card_expiring_before_the_next_charge_gets_one_notice_from_two_daily_runs(
    client, plans, stripe_sandbox, runner
):
    membership = monthly_member(client, plans, stripe_sandbox)
    now = datetime.now(UTC)
    # The card works to the end of this month; the next monthly charge is after that.
    stripe_sandbox.set_card_expiry(membership.contact.stripe_customer_id, now.month, now.year)
    deliver_webhooks(client)
    assert runner.invoke(args=["crm", "daily"]).exit_code == 0
    assert runner.invoke(args=["crm", "daily"]).exit_code == 0
    db.session.expire_all()
    [notice] = card_notices()
    assert "Your card expires before your next" in notice.subject
    assert f"{now.month:02d}/{now.year}" in notice.body_text
    assert "/billing/update-payment-details/" in notice.body_text


def test_a_card_valid_past_the_next_charge_gets_no_notice(client, plans, stripe_sandbox, runner):
    membership = monthly_member(client, plans, stripe_sandbox)
    stripe_sandbox.set_card_expiry(membership.contact.stripe_customer_id, 12, 2034)
    deliver_webhooks(client)
    assert runner.invoke(args=["crm", "daily"]).exit_code == 0
    assert card_notices() == []


def test_a_direct_debit_member_gets_no_card_notice(client, plans, stripe_sandbox, runner):
    client.post("/join", data=form(plans, plan=str(plans["monthly"].id)))
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay_by_direct_debit(membership.stripe_checkout_session_id)
    stripe_sandbox.settle_direct_debit(membership.stripe_checkout_session_id)
    deliver_webhooks(client)
    assert runner.invoke(args=["crm", "daily"]).exit_code == 0
    assert card_notices() == []


def test_the_staff_work_list_shows_members_warned_about_their_card(client, plans, stripe_sandbox, runner):
    from crm.staff import dashboard
    from tests.fixtures import make_user, sign_in_as

    membership = monthly_member(client, plans, stripe_sandbox)
    now = datetime.now(UTC)
    stripe_sandbox.set_card_expiry(membership.contact.stripe_customer_id, now.month, now.year)
    deliver_webhooks(client)
    assert runner.invoke(args=["crm", "daily"]).exit_code == 0
    items = {item.key: item for item in dashboard.work_list(now)}
    assert items["card_expiring"].count == 1
    sign_in_as(client, make_user("admin@example.org", "admin"))
    page = client.get("/staff/").get_data(as_text=True)
    assert "Cards expiring before the next charge" in page
