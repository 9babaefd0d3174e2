"""The whole join flow against the Stripe sandbox."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.billing.models import Payment
from crm.contacts.models import Consent, Contact, GiftAidDeclaration
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


def start(client, plans, **changes):  # type: ignore[no-untyped-def]
    response = client.post("/join", data=form(plans, **changes))
    assert response.status_code == 303, response.get_data(as_text=True)
    membership = db.session.scalar(select(Membership).order_by(Membership.id.desc()))
    return response, membership


def count(model) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count(model.id))) or 0


def test_join_pay_and_webhook_make_a_member(client, plans, stripe_sandbox):
    response, membership = start(client, plans, donation="10", gift_aid="y", email_updates="y")
    assert response.headers["Location"] == membership.checkout_url
    session = stripe_sandbox.object(membership.stripe_checkout_session_id)
    assert session["mode"] == "subscription"
    assert session["metadata"]["membership_id"] == str(membership.id)
    assert session["success_url"] == "http://crm.test/join/success?session_id={CHECKOUT_SESSION_ID}"
    assert membership.status == "pending"

    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    responses = deliver_webhooks(client)
    assert responses and all(r.status_code == 200 for r in responses), [r.get_json() for r in responses]

    db.session.expire_all()
    membership = db.session.get(Membership, membership.id)
    assert membership.status == "active"
    assert membership.stripe_subscription_id
    assert membership.auto_renew
    assert count(Payment) == 2  # the £10 donation is its own payment (tests/billing/test_donations.py)
    amounts = sorted((p.kind, p.amount) for p in db.session.scalars(select(Payment)))
    assert amounts == [("donation", 1000), ("membership", 3600)]
    contact = db.session.scalar(select(Contact))
    assert contact.member_number and contact.email_consent
    assert count(GiftAidDeclaration) == 1 and count(Consent) == 1
    kinds = sorted(m.kind for m in db.session.scalars(select(OutboxMessage)))
    assert "receipt" in kinds

    page = client.get(f"/join/success?session_id={membership.stripe_checkout_session_id}").get_data(
        as_text=True
    )
    assert "Welcome, you are a member" in page and "check your email" in page
    assert count(Payment) == 2


def test_success_page_alone_activates_from_stripe_not_the_query_string(client, plans, stripe_sandbox):
    _, membership = start(client, plans, plan=str(plans["life"].id))
    assert client.get("/join/success?session_id=cs_forged").status_code == 200
    page = client.get(f"/join/success?session_id={membership.stripe_checkout_session_id}").get_data(
        as_text=True
    )
    assert "We are confirming your payment" in page
    assert db.session.get(Membership, membership.id).status == "pending"

    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    page = client.get(f"/join/success?session_id={membership.stripe_checkout_session_id}").get_data(
        as_text=True
    )
    assert "Welcome, you are a member" in page
    db.session.expire_all()
    membership = db.session.get(Membership, membership.id)
    assert membership.status == "active" and membership.paid_through is None
    assert deliver_webhooks(client)  # the webhook arrives later and changes nothing more
    assert count(Payment) == 1
