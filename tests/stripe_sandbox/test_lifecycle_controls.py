"""Renewals, failures, cancellations, refunds and disputes, as the app sees them through the gateway."""

from __future__ import annotations

import pytest
import requests

from crm.billing import stripe_gateway as gateway
from tests.stripe_fixtures import event_types

from .helpers import make_plan, start_checkout


@pytest.fixture
def paid_sub(stripe_sandbox):
    plan = make_plan("monthly", amount=400, interval="month")
    customer_id, checkout = start_checkout(plan)
    stripe_sandbox.pay(checkout.id)
    stripe_sandbox.take_events()
    return stripe_sandbox.object(checkout.id)["subscription"]


def test_renew_charges_the_next_period_with_no_gap(stripe_sandbox, paid_sub):
    before = gateway.subscription_period(gateway.retrieve_subscription(paid_sub))
    stripe_sandbox.renew(paid_sub)
    sub = gateway.retrieve_subscription(paid_sub)
    after = gateway.subscription_period(sub)
    assert after[0] == before[1] and after[1] > after[0]
    events = stripe_sandbox.take_events()
    assert event_types(events) == [
        "customer.subscription.updated", "charge.succeeded", "payment_intent.succeeded", "invoice.paid",
        "invoice.payment_succeeded",
    ]  # fmt: skip
    invoice = events[3]["data"]["object"]
    assert invoice["billing_reason"] == "subscription_cycle"
    assert invoice["lines"]["data"][0]["period"] == {
        "start": int(after[0].timestamp()),
        "end": int(after[1].timestamp()),
    }
    assert gateway.invoice_subscription_id(gateway.retrieve_invoice(invoice["id"])) == paid_sub


def test_failed_renewal_makes_the_subscription_past_due_then_recovery_pays_it(stripe_sandbox, paid_sub):
    stripe_sandbox.fail_renewal(paid_sub)
    events = stripe_sandbox.take_events()
    assert "invoice.payment_failed" in event_types(events)
    failed = next(e for e in events if e["type"] == "invoice.payment_failed")["data"]["object"]
    assert (failed["status"], failed["amount_paid"], failed["attempt_count"]) == ("open", 0, 1)
    assert gateway.retrieve_subscription(paid_sub).status == "past_due"

    stripe_sandbox.renew(paid_sub)  # a retry succeeds: the same invoice is paid
    events = stripe_sandbox.take_events()
    paid = next(e for e in events if e["type"] == "invoice.paid")["data"]["object"]
    assert paid["id"] == failed["id"]
    assert gateway.retrieve_subscription(paid_sub).status == "active"


def test_giving_up_after_failures_deletes_the_subscription(stripe_sandbox, paid_sub):
    stripe_sandbox.fail_renewal(paid_sub)
    stripe_sandbox.give_up(paid_sub)
    deleted = stripe_sandbox.events("customer.subscription.deleted")[-1]["data"]["object"]
    assert deleted["status"] == "canceled"
    assert deleted["cancellation_details"]["reason"] == "payment_failed"


def test_cancel_at_period_end_then_period_end_deletes_it(stripe_sandbox, paid_sub):
    sub = gateway.set_cancel_at_period_end(paid_sub, True, idempotency_key="cancel-1")
    assert sub.cancel_at_period_end is True and sub.status == "active"
    updated = stripe_sandbox.take_events()[-1]
    assert updated["type"] == "customer.subscription.updated"
    assert updated["data"]["previous_attributes"]["cancel_at_period_end"] is False
    stripe_sandbox.renew(paid_sub)
    assert event_types(stripe_sandbox.take_events()) == ["customer.subscription.deleted"]
    assert stripe_sandbox.find("invoice", status="open") == []


def test_resume_before_period_end_keeps_it_renewing(stripe_sandbox, paid_sub):
    gateway.set_cancel_at_period_end(paid_sub, True, idempotency_key="c-1")
    sub = gateway.set_cancel_at_period_end(paid_sub, False, idempotency_key="c-2")
    assert sub.cancel_at_period_end is False and sub.cancel_at is None


def test_cancel_now_ends_the_subscription(stripe_sandbox, paid_sub):
    sub = gateway.cancel_subscription_now(paid_sub, idempotency_key="end-1")
    assert sub.status == "canceled"
    again = gateway.cancel_subscription_now(paid_sub, idempotency_key="end-1")  # a retry replays
    assert again.id == sub.id
    assert len(stripe_sandbox.events("customer.subscription.deleted")) == 1


def test_change_price_moves_the_item_to_the_new_price(stripe_sandbox, paid_sub):
    other = make_plan("monthly-plus", amount=800, interval="month")
    gateway.sync_plan(other)
    sub = gateway.change_subscription_price(paid_sub, other.stripe_price_id, idempotency_key="move-1")
    assert gateway.subscription_price_id(sub) == other.stripe_price_id


def test_partial_then_full_refund_and_refusing_too_much(stripe_sandbox, paid_sub):
    invoice = gateway.retrieve_invoice(gateway.retrieve_subscription(paid_sub).latest_invoice)
    intent_id = gateway.invoice_payment_intent_id(invoice)
    refund = gateway.create_refund(payment_intent_id=intent_id, amount=100, idempotency_key="r-1",
                                   metadata={"payment_id": "7"})  # fmt: skip
    assert (refund.amount, refund.stripe_status, refund.payment_id) == (100, "succeeded", 7)
    gateway.create_refund(
        payment_intent_id=intent_id, amount=100, idempotency_key="r-1", metadata={"payment_id": "7"}
    )
    charge = gateway.retrieve_charge(refund.charge_id)
    assert (charge.amount_refunded, charge.refunded) == (100, False)  # the retry did not refund twice
    with pytest.raises(gateway.GatewayError):
        gateway.create_refund(payment_intent_id=intent_id, amount=301, idempotency_key="r-2", metadata={})
    gateway.create_refund(payment_intent_id=intent_id, amount=300, idempotency_key="r-3", metadata={})
    assert gateway.retrieve_charge(refund.charge_id).refunded is True
    refunded = stripe_sandbox.events("charge.refunded")
    assert [e["data"]["object"]["amount_refunded"] for e in refunded] == [100, 400]


def test_dispute_emits_charge_dispute_created(stripe_sandbox, paid_sub):
    charge_id = stripe_sandbox.find("charge")[0]["id"]
    stripe_sandbox.dispute(charge_id)
    dispute = stripe_sandbox.events("charge.dispute.created")[0]["data"]["object"]
    assert dispute["charge"] == charge_id and dispute["status"] == "needs_response"
    assert gateway.retrieve_charge(charge_id).disputed is True


def test_portal_cancel_and_resume_buttons_update_the_subscription(stripe_sandbox, paid_sub):
    customer_id = stripe_sandbox.object(paid_sub)["customer"]
    url = gateway.create_portal_session(customer_id, "http://crm.test/account")
    page = requests.get(url, timeout=5)
    assert "Cancel subscription at period end" in page.text and "Update card" in page.text
    assert 'href="http://crm.test/account"' in page.text
    form = {"subscription": paid_sub}
    done = requests.post(f"{url}/cancel", data=form, timeout=5)
    assert "Ends on" in done.text and ">Resume</button>" in done.text
    assert stripe_sandbox.object(paid_sub)["cancel_at_period_end"] is True
    requests.post(f"{url}/resume", data=form, timeout=5)
    assert stripe_sandbox.object(paid_sub)["cancel_at_period_end"] is False
    updates = stripe_sandbox.events("customer.subscription.updated")[-2:]
    assert [e["data"]["object"]["cancel_at_period_end"] for e in updates] == [True, False]


def test_portal_refuses_another_customers_subscription(stripe_sandbox, paid_sub):
    stranger = stripe_sandbox.create_customer({"email": "x@example.org"})
    url = gateway.create_portal_session(stranger["id"], "http://crm.test/account")
    response = requests.post(f"{url}/cancel", data={"subscription": paid_sub}, timeout=5)
    assert response.status_code == 404
    assert stripe_sandbox.object(paid_sub)["cancel_at_period_end"] is False


def test_controls_are_reachable_as_json_endpoints(stripe_sandbox, stripe_sandbox_server, paid_sub):
    response = requests.post(f"{stripe_sandbox_server.url}/_sandbox/renew", json={"subscription_id": paid_sub},
                             timeout=5)  # fmt: skip
    assert response.status_code == 200 and response.json()["id"] == paid_sub
    events = requests.get(f"{stripe_sandbox_server.url}/_sandbox/events?type=invoice.paid", timeout=5).json()
    assert len(events["data"]) == 2
    bad = requests.post(
        f"{stripe_sandbox_server.url}/_sandbox/renew", json={"subscription_id": "sub_nope"}, timeout=5
    )
    assert bad.status_code == 404
