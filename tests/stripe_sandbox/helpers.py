"""Small builders shared by the sandbox tests."""

from __future__ import annotations

from typing import Any

from crm.billing import stripe_gateway as gateway
from crm.extensions import db
from crm.memberships.models import Plan
from tests.fixtures import make_contact


def make_plan(
    slug: str = "standard-yearly", amount: int = 3600, interval: str = "year", **fields: Any
) -> Plan:
    plan = Plan(slug=slug, name=fields.pop("name", slug.replace("-", " ").title()), amount=amount,
                interval=interval, currency="gbp", **fields)  # fmt: skip
    db.session.add(plan)
    db.session.flush()
    return plan


def start_checkout(
    plan: Plan,
    *,
    email: str = "ana@example.org",
    key: str = "join-1",
    extra: list[dict[str, Any]] | None = None,
) -> tuple[str, gateway.CheckoutSession]:
    """A synced plan, a contact with a customer, and an open Checkout Session for them."""
    gateway.sync_plan(plan)
    contact = make_contact(email)
    customer_id = gateway.ensure_customer(contact)
    mode = "subscription" if plan.recurring else "payment"
    session = gateway.create_checkout_session(
        mode=mode,
        customer_id=customer_id,
        line_items=[{"price": plan.stripe_price_id, "quantity": 1}, *(extra or [])],
        metadata={"membership_id": "41", "contact_id": str(contact.id)},
        subscription_metadata={"membership_id": "41"} if mode == "subscription" else None,
        payment_intent_metadata={"membership_id": "41"} if mode == "payment" else None,
        success_url="http://crm.test/join/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://crm.test/join",
        idempotency_key=key,
    )
    return customer_id, session
