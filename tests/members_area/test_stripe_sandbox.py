"""Auto-renewal and the Customer Portal against the Stripe sandbox (no network)."""

from __future__ import annotations

from sqlalchemy import select

from crm.billing import stripe_gateway
from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import csrf_token
from tests.members_area.factories import sign_in, subscribe_in_sandbox


def test_cancel_and_resume_auto_renewal_reach_stripe(client, active_member, plan, stripe_sandbox):
    contact = db.session.get(Contact, active_member.contact_id)
    contact.stripe_customer_id = None
    membership = db.session.scalar(select(Membership).where(Membership.contact_id == contact.id))
    membership.stripe_subscription_id = subscribe_in_sandbox(contact, plan, stripe_sandbox).subscription_id
    db.session.commit()
    sub_id = membership.stripe_subscription_id

    sign_in(client, active_member)
    token = csrf_token(client, "/account/auto-renew/cancel")
    assert client.post("/account/auto-renew/cancel", data={"csrf_token": token}).status_code == 302
    assert stripe_sandbox.object(sub_id)["cancel_at_period_end"] is True
    assert client.post("/account/auto-renew/resume", data={"csrf_token": token}).status_code == 302
    assert stripe_sandbox.object(sub_id)["cancel_at_period_end"] is False
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).auto_renew is True


def test_manage_card_opens_the_sandbox_customer_portal(client, active_member, stripe_sandbox):
    contact = db.session.get(Contact, active_member.contact_id)
    contact.stripe_customer_id = None
    stripe_gateway.ensure_customer(contact)
    db.session.commit()
    sign_in(client, active_member)
    token = csrf_token(client, "/account")
    response = client.post("/account/billing-portal", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("http://127.0.0.1")
