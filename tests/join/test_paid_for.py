"""A Checkout Session is fulfilled only for what its own line items pay for, never its metadata.

The attack (issue 26 item 15): on the same Stripe account, a £1 payment-mode session with another
product's price but our metadata (a pending Life membership's ids, Gift Aid and email consent
ticked) activated a £500 Life membership; a similar session recorded a donation, a Gift Aid
declaration and consent on someone else's contact.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.billing import stripe_gateway as gateway
from crm.billing.models import Payment
from crm.contacts.models import Consent, Contact, GiftAidDeclaration
from crm.extensions import db
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.memberships.factories import make_plan, make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def count(model, *where) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _foreign_one_pound_price() -> str:
    """A one-off £1 price of another product on the same Stripe account (not one of our plans)."""
    foreign = make_plan("foreign-shop", amount=100, interval="lifetime")
    gateway.sync_plan(foreign)
    price_id = str(foreign.stripe_price_id)
    db.session.delete(foreign)
    db.session.commit()
    return price_id


def _pay_forged(client, stripe_sandbox, contact: Contact, metadata: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    session = gateway.create_checkout_session(
        mode="payment",
        customer_id=str(contact.stripe_customer_id),
        line_items=[{"price": _foreign_one_pound_price(), "quantity": 1}],
        metadata=metadata,
        subscription_metadata=None,
        payment_intent_metadata=metadata,
        success_url="http://crm.test/join/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://crm.test/",
        idempotency_key=f"forged-{metadata['kind']}",
    )
    stripe_sandbox.pay(session.id)
    responses = deliver_webhooks(client)
    assert responses and all(r.status_code == 200 for r in responses)
    assert client.get(f"/join/success?session_id={session.id}").status_code == 200
    db.session.expire_all()
    return session.id


def test_a_one_pound_session_with_a_foreign_price_and_our_life_metadata_activates_nothing(
    client, plans, stripe_sandbox
):
    life = plans["life"]
    assert client.post("/join", data=form(plans, plan=str(life.id))).status_code == 303
    membership = db.session.scalar(select(Membership))
    contact = membership.contact
    stripe_sandbox.take_events()
    _pay_forged(
        client,
        stripe_sandbox,
        contact,
        {
            "contact_id": str(contact.id),
            "membership_id": str(membership.id),
            "plan_id": str(life.id),
            "kind": "membership",
            "donation": "0",
            "gift_aid": "1",
            "email_updates": "1",
        },
    )
    assert db.session.get(Membership, membership.id).status == "pending"
    assert count(Payment) == 0
    assert count(GiftAidDeclaration) == 0 and count(Consent) == 0


def test_a_one_pound_session_with_a_foreign_price_and_donation_metadata_records_nothing(
    client, plans, stripe_sandbox
):
    assert client.post("/join", data=form(plans, email="victim@example.org")).status_code == 303
    victim = db.session.scalar(select(Contact).where(Contact.email == "victim@example.org"))
    stripe_sandbox.take_events()
    _pay_forged(
        client,
        stripe_sandbox,
        victim,
        {
            "contact_id": str(victim.id),
            "kind": "donation",
            "donation": "100",
            "gift_aid": "1",
            "email_updates": "1",
        },
    )
    assert count(Payment) == 0
    assert count(GiftAidDeclaration) == 0 and count(Consent) == 0
    assert db.session.get(Contact, victim.id).email_consent is False


def test_our_own_sessions_with_a_donation_are_still_fulfilled(client, plans, stripe_sandbox):
    """The control: a real join with a donation, and a real one-off donation, are paid for in full."""
    life = plans["life"]
    data = form(plans, plan=str(life.id), donation="12.50", gift_aid="y", email_updates="y")
    assert client.post("/join", data=data).status_code == 303
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "active"
    paid = sorted(db.session.execute(select(Payment.kind, Payment.amount)).all())
    assert paid == [("donation", 1250), ("membership", life.amount)]  # one Checkout, two payments
    assert count(GiftAidDeclaration) == 1 and count(Consent) == 1
