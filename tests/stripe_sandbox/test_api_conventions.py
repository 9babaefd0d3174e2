"""Stripe's conventions the sandbox keeps: keys, errors, idempotency, pagination, flaky networks."""

from __future__ import annotations

import pytest
import requests
import stripe

from crm.billing import stripe_gateway as gateway
from tests.fixtures import make_contact

from .helpers import make_plan, start_checkout


def _client(url: str, key: str = "sk_test_sandbox", retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=retries)


def test_a_wrong_secret_key_gets_401_and_a_safe_gateway_error(stripe_sandbox, app):
    app.config["STRIPE_SECRET_KEY"] = "sk_test_wrong"
    with pytest.raises(gateway.GatewayError) as caught:
        gateway.ensure_customer(make_contact())
    assert caught.value.kind == "config" and caught.value.http_status == 401
    assert "sk_test_wrong" not in caught.value.user_message


def test_unknown_ids_get_404_in_stripes_error_shape(stripe_sandbox_server, stripe_sandbox):
    response = requests.get(
        f"{stripe_sandbox_server.url}/v1/subscriptions/sub_missing",
        headers={"Authorization": "Bearer sk_test_sandbox"},
        timeout=5,
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "resource_missing"
    assert error["message"] == "No such subscription: 'sub_missing'"
    with pytest.raises(gateway.GatewayError) as caught:
        gateway.retrieve_subscription("sub_missing")
    assert caught.value.kind == "not_found"


def test_an_unreachable_stripe_is_a_gateway_error_the_user_can_read(app):
    # No sandbox fixture: the app's Stripe address refuses connections.
    with pytest.raises(gateway.GatewayError) as caught:
        gateway.retrieve_subscription("sub_1")
    assert caught.value.kind == "unreachable"
    assert "payment provider" in caught.value.user_message


def test_unknown_parameters_are_refused_like_stripe(stripe_sandbox_server, stripe_sandbox):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _client(stripe_sandbox_server.url).v1.customers.create({"emial": "a@example.org"})
    assert "unknown parameter: emial" in str(caught.value.user_message)


def test_lists_page_through_everything_created_since(stripe_sandbox, app):
    plan = make_plan("monthly", amount=400, interval="month")
    _, checkout = start_checkout(plan)
    stripe_sandbox.pay(checkout.id)
    sub_id = stripe_sandbox.object(checkout.id)["subscription"]
    for _ in range(4):
        stripe_sandbox.renew(sub_id)
    client = _client(app.config["STRIPE_API_BASE"])
    first = client.v1.invoices.list({"limit": 2})
    assert len(first.data) == 2 and first.has_more is True
    invoices = list(gateway.list_invoices(created_gte=0))
    assert len(invoices) == 5 and len({i.id for i in invoices}) == 5
    assert list(gateway.list_invoices(created_gte=2**31)) == []
    assert [s.id for s in gateway.list_subscriptions(created_gte=0)] == [sub_id]
    gateway.cancel_subscription_now(sub_id, idempotency_key="x")
    assert client.v1.subscriptions.list().data == []  # Stripe hides cancelled ones by default
    assert [s.id for s in gateway.list_subscriptions(created_gte=0)] == [sub_id]
    stripe_sandbox.refund(stripe_sandbox.find("charge")[0]["id"], 100)
    assert len(list(gateway.list_refunds(created_gte=0))) == 1


def test_a_dropped_connection_after_create_is_retried_with_the_same_key(stripe_sandbox, app):
    """R11: the SDK's retry reuses the idempotency key, so there is one session, not two."""
    app.config["STRIPE_MAX_NETWORK_RETRIES"] = 2
    gateway.reset_client(app)
    plan = make_plan()
    gateway.sync_plan(plan)
    customer_id = gateway.ensure_customer(make_contact())
    stripe_sandbox.fail_next("/v1/checkout/sessions", mode="drop_after")
    session = gateway.create_checkout_session(
        mode="subscription", customer_id=customer_id, line_items=[{"price": plan.stripe_price_id, "quantity": 1}],
        metadata={}, subscription_metadata=None, success_url="http://crm.test/ok", cancel_url="http://crm.test/no",
        idempotency_key="membership-9-checkout",
    )  # fmt: skip
    assert [s["id"] for s in stripe_sandbox.find("checkout.session")] == [session.id]


def test_a_500_without_retries_is_a_gateway_error_and_creates_nothing(stripe_sandbox):
    stripe_sandbox.fail_next("/v1/customers", mode="error_500")
    contact = make_contact()
    with pytest.raises(gateway.GatewayError):
        gateway.ensure_customer(contact)
    assert contact.stripe_customer_id is None
    assert stripe_sandbox.find("customer") == []
