"""The webhook rules against the sandbox: every payment once, any arrival order, only our plans."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.billing import stripe_gateway as gateway
from crm.billing.models import Payment, ProcessedStripeEvent
from crm.contacts.models import Contact
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def count(model, *where) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def joined(client, plans, sandbox, **changes):  # type: ignore[no-untyped-def]
    """POST /join and press Pay; the events wait in the sandbox queue."""
    response = client.post("/join", data=form(plans, **changes))
    assert response.status_code == 303, response.get_data(as_text=True)
    membership = db.session.scalar(select(Membership).order_by(Membership.id.desc()))
    sandbox.pay(membership.stripe_checkout_session_id)
    return membership.id, membership.stripe_checkout_session_id


def fresh(membership_id: int) -> Membership:
    db.session.expire_all()
    return db.session.get(Membership, membership_id)


def all_ok(responses) -> None:  # type: ignore[no-untyped-def]
    assert responses and all(r.status_code == 200 for r in responses), [
        (r.status_code, r.get_json()) for r in responses
    ]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, "reversed"])
def test_payment_events_in_any_order_and_twice_make_one_member_and_one_payment(
    client, plans, stripe_sandbox, seed
):
    membership_id, _ = joined(client, plans, stripe_sandbox)
    events = stripe_sandbox.take_events()
    if seed == "reversed":
        events.reverse()  # checkout.session.completed first, subscription.created last
        all_ok(deliver_webhooks(client, events, duplicate=True))
    else:
        all_ok(deliver_webhooks(client, events, duplicate=True, shuffle=seed))
    membership = fresh(membership_id)
    assert membership.status == "active" and membership.auto_renew
    assert count(Membership) == 1
    assert count(Payment) == 1
    assert count(OutboxMessage, OutboxMessage.kind == "receipt") == 1
    sub = stripe_sandbox.object(membership.stripe_subscription_id)
    assert membership.paid_through == gateway.subscription_period(gateway.retrieve_subscription(sub["id"]))[1]
    assert membership.paid_through.timestamp() == sub["items"]["data"][0]["current_period_end"]


def test_invoice_paid_before_checkout_completed_activates_and_counts_once(client, plans, stripe_sandbox):
    membership_id, _ = joined(client, plans, stripe_sandbox)
    events = {e["type"]: e for e in stripe_sandbox.take_events()}
    all_ok(deliver_webhooks(client, [events["invoice.paid"]]))
    assert fresh(membership_id).status == "active"
    all_ok(deliver_webhooks(client, [events["checkout.session.completed"]]))
    assert count(Payment) == 1
    assert [e.to_status for e in lifecycle.status_explanation(fresh(membership_id))] == ["pending", "active"]


def test_renewal_extends_with_no_gap_and_records_a_second_payment(client, plans, stripe_sandbox):
    membership_id, _ = joined(client, plans, stripe_sandbox)
    all_ok(deliver_webhooks(client))
    first_end = fresh(membership_id).paid_through
    stripe_sandbox.renew(fresh(membership_id).stripe_subscription_id)
    all_ok(deliver_webhooks(client, duplicate=True))
    membership = fresh(membership_id)
    assert membership.paid_through > first_end
    assert membership.current_period_start == first_end
    assert count(Payment) == 2
    assert count(OutboxMessage, OutboxMessage.kind == "receipt") == 2


def test_failed_renewal_gives_grace_then_paying_restores_then_giving_up_lapses(client, plans, stripe_sandbox):
    membership_id, _ = joined(client, plans, stripe_sandbox)
    all_ok(deliver_webhooks(client))
    sub_id = fresh(membership_id).stripe_subscription_id
    stripe_sandbox.fail_renewal(sub_id)
    all_ok(deliver_webhooks(client))
    membership = fresh(membership_id)
    assert membership.status == "grace" and lifecycle.has_access(membership.contact_id)
    assert count(AuditEvent, AuditEvent.action == "payment.failed") == 1
    failed_emails = [m for m in outbox() if m.kind == "payment_failed"]
    assert len(failed_emails) == 1 and "/account" in failed_emails[0].body_text

    stripe_sandbox.renew(sub_id)  # the retry succeeds
    all_ok(deliver_webhooks(client))
    assert fresh(membership_id).status == "active"

    stripe_sandbox.fail_renewal(sub_id)
    stripe_sandbox.give_up(sub_id)
    all_ok(deliver_webhooks(client))
    membership = fresh(membership_id)
    assert membership.status == "lapsed" and not lifecycle.has_access(membership.contact_id)


def outbox():

    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_deleted_before_an_older_updated_stays_lapsed(client, plans, stripe_sandbox):
    membership_id, _ = joined(client, plans, stripe_sandbox)
    all_ok(deliver_webhooks(client))
    sub_id = fresh(membership_id).stripe_subscription_id
    stripe_sandbox.set_cancel_at_period_end(sub_id, True)
    stripe_sandbox.renew(sub_id)  # the period ends: the subscription is deleted
    events = stripe_sandbox.take_events()
    updated = [e for e in events if e["type"] == "customer.subscription.updated"]
    deleted = [e for e in events if e["type"] == "customer.subscription.deleted"]
    assert updated and deleted
    all_ok(deliver_webhooks(client, deleted + updated))
    membership = fresh(membership_id)
    assert membership.status == "lapsed"
    assert membership.stripe_state_at >= deleted[0]["created"]


def test_an_older_subscription_event_never_overwrites_newer_state(client, plans, stripe_sandbox):
    membership_id, _ = joined(client, plans, stripe_sandbox)
    all_ok(deliver_webhooks(client))
    sub_id = fresh(membership_id).stripe_subscription_id
    stripe_sandbox.set_cancel_at_period_end(sub_id, True)
    off = stripe_sandbox.take_events()
    stripe_sandbox.set_cancel_at_period_end(sub_id, False)
    on = stripe_sandbox.take_events()
    for event in off:
        event["created"] -= 10  # Stripe's older event arriving last
    all_ok(deliver_webhooks(client, on + off))
    membership = fresh(membership_id)
    assert membership.auto_renew and not lifecycle.ends_at_period_end(membership)


def test_cancel_at_period_end_keeps_access_and_shows_the_end(client, plans, stripe_sandbox):
    membership_id, _ = joined(client, plans, stripe_sandbox)
    all_ok(deliver_webhooks(client))
    sub_id = fresh(membership_id).stripe_subscription_id
    stripe_sandbox.set_cancel_at_period_end(sub_id, True)
    all_ok(deliver_webhooks(client))
    membership = fresh(membership_id)
    assert membership.status == "active" and not membership.auto_renew
    assert lifecycle.ends_at_period_end(membership)


def test_refunds_and_disputes_are_recorded_on_the_payment(client, plans, stripe_sandbox):
    membership_id, _ = joined(client, plans, stripe_sandbox)
    all_ok(deliver_webhooks(client))
    payment = db.session.scalar(select(Payment))
    stripe_sandbox.refund(payment.stripe_payment_intent_id, 1000)
    all_ok(deliver_webhooks(client, duplicate=True))
    db.session.expire_all()
    payment = db.session.scalar(select(Payment))
    assert (payment.status, payment.amount_refunded) == ("partly_refunded", 1000)
    stripe_sandbox.refund(payment.stripe_payment_intent_id)
    all_ok(deliver_webhooks(client))
    db.session.expire_all()
    payment = db.session.scalar(select(Payment))
    assert (payment.status, payment.amount_refunded) == ("refunded", 3600)
    assert len(payment.refunds) == 2
    assert fresh(membership_id).status == "active"  # staff choose whether a refund ends it

    stripe_sandbox.dispute(payment.stripe_charge_id)
    all_ok(deliver_webhooks(client))
    db.session.expire_all()
    payment = db.session.scalar(select(Payment))
    assert payment.disputed_at is not None
    assert count(AuditEvent, AuditEvent.action == "payment.dispute") == 1


def test_checkout_expired_frees_the_supporter_to_try_again(client, plans, stripe_sandbox):
    response = client.post("/join", data=form(plans))
    assert response.status_code == 303
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.expire(membership.stripe_checkout_session_id)
    all_ok(deliver_webhooks(client))
    assert fresh(membership.id).status == "expired"
    assert client.post("/join", data=form(plans)).status_code == 303
    assert count(Membership, Membership.status == "pending") == 1


def test_other_products_on_the_same_stripe_account_make_no_phantom_members(
    client, plans, stripe_sandbox, app
):
    from tests.fixtures import make_contact
    from tests.memberships.factories import make_plan

    foreign = make_plan("foreign-shop", amount=999, interval="month")
    gateway.sync_plan(foreign)
    price_id = foreign.stripe_price_id
    db.session.delete(foreign)  # the product exists in Stripe, but is not one of our plans
    contact = make_contact("shopper@example.org")
    customer_id = gateway.ensure_customer(contact)
    db.session.commit()
    session = gateway.create_checkout_session(
        mode="subscription",
        customer_id=customer_id,
        line_items=[{"price": price_id, "quantity": 1}],
        metadata={},
        subscription_metadata={},
        success_url="http://crm.test/",
        cancel_url="http://crm.test/",
        idempotency_key="foreign-1",
    )
    stripe_sandbox.pay(session.id)
    all_ok(deliver_webhooks(client))
    assert count(Membership) == 0 and count(Payment) == 0
    assert count(Contact) == 1


def test_every_event_id_is_recorded_once(client, plans, stripe_sandbox):
    joined(client, plans, stripe_sandbox)
    events = stripe_sandbox.take_events()
    all_ok(deliver_webhooks(client, events, duplicate=True))
    assert count(ProcessedStripeEvent) == len({e["id"] for e in events})


def test_life_membership_has_no_paid_through_and_survives_the_daily_job(client, plans, stripe_sandbox):
    membership_id, _ = joined(client, plans, stripe_sandbox, plan=str(plans["life"].id))
    all_ok(deliver_webhooks(client, duplicate=True))
    membership = fresh(membership_id)
    assert membership.status == "active" and membership.paid_through is None
    assert count(Payment) == 1 and db.session.scalar(select(Payment.amount)) == 50000
    lifecycle.run_daily(membership.joined_at + timedelta(days=3650))
    assert fresh(membership_id).status == "active"
