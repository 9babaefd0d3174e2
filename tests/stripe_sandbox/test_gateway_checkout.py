"""The gateway against the sandbox: customers, Checkout, and the objects paying creates."""

from __future__ import annotations

from datetime import UTC

import pytest
import requests

from crm.billing import stripe_gateway as gateway
from crm.contacts.models import Contact
from tests.fixtures import make_contact
from tests.stripe_fixtures import deliver_webhooks, event_types

from .helpers import make_plan, start_checkout


def test_ensure_customer_creates_once_with_contact_id_in_metadata(stripe_sandbox):
    contact = make_contact("ana@example.org")
    first = gateway.ensure_customer(contact)
    again = gateway.ensure_customer(contact)
    assert first == again == contact.stripe_customer_id
    customers = stripe_sandbox.find("customer")
    assert len(customers) == 1
    assert customers[0]["metadata"] == {"contact_id": str(contact.id)}
    assert customers[0]["email"] == "ana@example.org"
    assert customers[0]["name"] == "Ana Torres"


def test_pressing_join_twice_with_one_key_makes_one_checkout_session(stripe_sandbox):
    plan = make_plan()
    _, first = start_checkout(plan, key="membership-41-checkout")
    contact = Contact.query.one()
    second = gateway.create_checkout_session(
        mode="subscription",
        customer_id=contact.stripe_customer_id,
        line_items=[{"price": plan.stripe_price_id, "quantity": 1}],
        metadata={"membership_id": "41", "contact_id": str(contact.id)},
        subscription_metadata={"membership_id": "41"},
        success_url="http://crm.test/join/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://crm.test/join",
        idempotency_key="membership-41-checkout",
    )
    assert second == first
    assert len(stripe_sandbox.find("checkout.session")) == 1


def test_reusing_a_key_with_other_parameters_is_refused(stripe_sandbox):
    plan = make_plan()
    customer_id, _ = start_checkout(plan, key="k-1")
    with pytest.raises(gateway.GatewayError) as caught:
        gateway.create_checkout_session(
            mode="subscription", customer_id=customer_id,
            line_items=[{"price": plan.stripe_price_id, "quantity": 2}],
            metadata={}, subscription_metadata=None, success_url="http://crm.test/ok",
            cancel_url="http://crm.test/join", idempotency_key="k-1",
        )  # fmt: skip
    assert caught.value.kind == "invalid"
    assert len(stripe_sandbox.find("checkout.session")) == 1


def test_paying_a_subscription_checkout_creates_endive_shaped_objects(stripe_sandbox):
    plan = make_plan()
    customer_id, checkout = start_checkout(plan)
    stripe_sandbox.pay(checkout.id)

    session = gateway.retrieve_checkout_session(checkout.id)
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert session.metadata["membership_id"] == "41"
    sub = session.subscription  # expanded
    assert sub.status == "active"
    assert sub.metadata["membership_id"] == "41"
    assert sub.customer == customer_id
    start, end = gateway.subscription_period(sub)
    assert start.tzinfo is UTC and end.tzinfo is UTC
    assert (end - start).days in (365, 366)
    assert gateway.subscription_price_id(sub) == plan.stripe_price_id

    invoice = gateway.retrieve_invoice(sub.latest_invoice)
    assert invoice.status == "paid"
    assert invoice.billing_reason == "subscription_create"
    assert invoice.amount_paid == 3600 and invoice.currency == "gbp"
    assert gateway.invoice_subscription_id(invoice) == sub.id
    assert gateway.invoice_subscription_metadata(invoice) == {"membership_id": "41"}
    assert invoice.lines.data[0].period.end == sub["items"].data[0].current_period_end
    intent_id = gateway.invoice_payment_intent_id(invoice)
    intent = gateway.retrieve_payment_intent(intent_id)
    assert intent.status == "succeeded"
    charge = gateway.retrieve_charge(intent.latest_charge)
    assert (charge.amount, charge.amount_refunded, charge.refunded) == (3600, 0, False)


def test_invoice_in_a_webhook_has_no_payments_until_asked_for(stripe_sandbox):
    plan = make_plan()
    _, checkout = start_checkout(plan)
    stripe_sandbox.pay(checkout.id)
    paid = stripe_sandbox.events("invoice.paid")[0]["data"]["object"]
    assert "payments" not in paid  # includable only, as in Stripe
    assert "subscription" not in paid and "payment_intent" not in paid  # removed in basil/endive
    assert gateway.invoice_payment_intent_id(gateway.retrieve_invoice(paid["id"])).startswith("pi_")


def test_paying_emits_the_events_stripe_sends_in_order(stripe_sandbox):
    plan = make_plan()
    _, checkout = start_checkout(plan)
    stripe_sandbox.take_events()
    stripe_sandbox.pay(checkout.id)
    events = stripe_sandbox.take_events()
    assert event_types(events) == [
        "customer.subscription.created", "charge.succeeded", "payment_intent.succeeded", "invoice.paid",
        "invoice.payment_succeeded", "customer.subscription.updated", "checkout.session.completed",
    ]  # fmt: skip
    assert events[0]["data"]["object"]["status"] == "incomplete"
    assert events[5]["data"]["object"]["status"] == "active"
    assert events[5]["data"]["previous_attributes"]["status"] == "incomplete"
    created = [e["created"] for e in events]
    assert created == sorted(created) and len(set(created)) == len(created)
    assert all(e["api_version"] == "2026-10-28.endive" for e in events)


def test_one_off_checkout_puts_metadata_on_the_payment_intent(stripe_sandbox):
    plan = make_plan("life", amount=50000, interval="lifetime")
    _, checkout = start_checkout(plan)
    stripe_sandbox.pay(checkout.id)
    session = gateway.retrieve_checkout_session(checkout.id)
    assert session.mode == "payment" and session.subscription is None
    assert session.payment_intent.metadata["membership_id"] == "41"
    assert session.payment_intent.amount == 50000
    assert "checkout.session.completed" in event_types(stripe_sandbox.events())


def test_a_donation_added_to_a_subscription_is_on_the_first_invoice_only(stripe_sandbox):
    plan = make_plan()
    donation = {"price_data": {"currency": "gbp", "unit_amount": 1500, "product_data": {"name": "Donation"}},
                "quantity": 1}  # fmt: skip
    _, checkout = start_checkout(plan, extra=[donation])
    stripe_sandbox.pay(checkout.id)
    sub_id = stripe_sandbox.object(checkout.id)["subscription"]
    first = gateway.retrieve_invoice(stripe_sandbox.object(sub_id)["latest_invoice"])
    assert first.amount_paid == 5100
    stripe_sandbox.renew(sub_id)
    second = gateway.retrieve_invoice(stripe_sandbox.object(sub_id)["latest_invoice"])
    assert second.amount_paid == 3600 and second.billing_reason == "subscription_cycle"


def test_checkout_page_shows_amount_and_email_and_pay_redirects_to_success(stripe_sandbox):
    plan = make_plan()
    _, checkout = start_checkout(plan)
    page = requests.get(checkout.url, timeout=5)
    assert page.status_code == 200
    assert "£36.00" in page.text and "ana@example.org" in page.text
    assert ">Pay</button>" in page.text and ">Decline</button>" in page.text
    assert "http://" not in page.text.replace("http://crm.test/join", "")  # no external assets

    declined = requests.post(f"{checkout.url}/decline", timeout=5)
    assert "Your card was declined" in declined.text
    assert stripe_sandbox.find("subscription") == []
    assert stripe_sandbox.object(checkout.id)["status"] == "open"

    paid = requests.post(f"{checkout.url}/pay", allow_redirects=False, timeout=5)
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://crm.test/join/success?session_id={checkout.id}"
    assert len(stripe_sandbox.find("subscription")) == 1
    again = requests.post(f"{checkout.url}/pay", allow_redirects=False, timeout=5)
    assert again.status_code == 303 and len(stripe_sandbox.find("subscription")) == 1


def test_expiring_a_session_emits_checkout_session_expired(stripe_sandbox):
    plan = make_plan()
    _, checkout = start_checkout(plan)
    stripe_sandbox.expire(checkout.id)
    assert gateway.retrieve_checkout_session(checkout.id).status == "expired"
    assert stripe_sandbox.events("checkout.session.expired")[0]["data"]["object"]["id"] == checkout.id
    assert requests.get(checkout.url, timeout=5).status_code == 410


def test_an_inactive_price_cannot_be_sold(stripe_sandbox):
    plan = make_plan()
    gateway.sync_plan(plan)
    old_price = plan.stripe_price_id
    plan.amount = 4000
    gateway.sync_plan(plan)
    contact = make_contact()
    with pytest.raises(gateway.GatewayError) as caught:
        gateway.create_checkout_session(
            mode="subscription", customer_id=gateway.ensure_customer(contact),
            line_items=[{"price": old_price, "quantity": 1}], metadata={}, subscription_metadata=None,
            success_url="http://crm.test/ok", cancel_url="http://crm.test/join", idempotency_key="x",
        )  # fmt: skip
    assert "inactive" in str(caught.value)


def test_deliver_webhooks_posts_each_queued_event_signed(client, stripe_sandbox, app):
    plan = make_plan()
    _, checkout = start_checkout(plan)
    stripe_sandbox.pay(checkout.id)
    queued = len(stripe_sandbox.pending_events())
    responses = deliver_webhooks(client, duplicate=True)
    assert len(responses) == 2 * queued
    assert stripe_sandbox.pending_events() == []
