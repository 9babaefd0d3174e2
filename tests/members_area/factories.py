"""Small factories for the members' area and news tests: rows created directly, flushed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

from flask import g

from crm.billing.models import Payment
from crm.contacts.models import Contact
from crm.core.markup import render_markdown
from crm.core.types import utcnow
from crm.extensions import db, login_manager
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipEvent, Plan
from crm.news.models import Post
from tests.fixtures import sign_in_as

_seq = count(1)


def make_plan(
    slug: str = "standard-yearly", interval: str = "year", amount: int = 3600, **fields: object
) -> Plan:
    plan = Plan(
        slug=slug,
        name=fields.pop("name", slug.replace("-", " ").title()),
        amount=amount,
        interval=interval,
        **fields,
    )
    db.session.add(plan)
    db.session.flush()
    return plan


def make_membership(
    contact: Contact,
    plan: Plan,
    status: str = "active",
    *,
    paid_days: int | None = 200,
    auto_renew: bool = True,
    subscription_id: str | None = None,
    reason: str = "paid by card",
) -> Membership:
    now = utcnow()
    membership = Membership(
        contact_id=contact.id,
        plan_id=plan.id,
        status=status,
        joined_at=now - timedelta(days=400),
        current_period_start=now - timedelta(days=165),
        paid_through=now + timedelta(days=paid_days) if paid_days is not None else None,
        auto_renew=auto_renew,
        stripe_subscription_id=subscription_id,
    )
    if status in ("lapsed", "cancelled", "expired"):
        membership.ended_at = membership.paid_through
    db.session.add(membership)
    db.session.flush()
    db.session.add(
        MembershipEvent(membership_id=membership.id, from_status=None, to_status=status, reason=reason)
    )
    if contact.member_number is None:
        contact.member_number = f"M{contact.id:05d}"
    lifecycle.refresh_membership_status(contact_ids=[contact.id])  # as the lifecycle does
    return membership


@dataclass(frozen=True)
class SandboxSubscription:
    """What joining through Checkout left in the sandbox."""

    subscription_id: str
    customer_id: str
    #: The first invoice's payment (what a refund of the joining payment refunds).
    payment_intent_id: str


def subscribe_in_sandbox(contact: Contact, plan: Plan, sandbox) -> SandboxSubscription:  # type: ignore[no-untyped-def]
    """A real sandbox subscription for `contact`, as if they had joined through Checkout, and its
    first payment (its webhooks are dropped: the membership and payment rows are the test's own)."""
    from crm.billing import stripe_gateway

    stripe_gateway.sync_plan(plan)
    customer = stripe_gateway.ensure_customer(contact)
    session = stripe_gateway.create_checkout_session(
        mode="subscription",
        customer_id=customer,
        line_items=[{"price": plan.stripe_price_id, "quantity": 1}],
        metadata={"contact_id": str(contact.id)},
        subscription_metadata={"contact_id": str(contact.id)},
        success_url="http://crm.test/join/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://crm.test/join",
        idempotency_key=f"test-checkout-{contact.id}",
    )
    paid = sandbox.pay(session.id)
    sandbox.take_events()
    return SandboxSubscription(
        subscription_id=stripe_gateway.id_of(paid["subscription"]),
        customer_id=customer,
        payment_intent_id=str(sandbox.find("payment_intent", customer=customer)[0]["id"]),
    )


def make_payment(contact: Contact, amount: int = 3600, **fields: object) -> Payment:
    fields.setdefault("paid_at", utcnow() - timedelta(days=10))
    fields.setdefault("method", "card")
    payment = Payment(contact_id=contact.id, amount=amount, currency="gbp", status="paid", **fields)
    db.session.add(payment)
    db.session.flush()
    return payment


def make_post(
    title: str | None = None,
    *,
    visibility: str = "public",
    status: str = "published",
    published_at: datetime | None = None,
    body: str = "Body text.",
    summary: str = "A summary.",
) -> Post:
    n = next(_seq)
    title = title or f"Post {n}"
    post = Post(
        slug=f"{title.lower().replace(' ', '-')}-{n}",
        title=title,
        summary=summary,
        body_markdown=body,
        body_html=render_markdown(body),
        visibility=visibility,
        status=status,
        published_at=published_at if published_at is not None else utcnow() - timedelta(hours=n),
    )
    db.session.add(post)
    db.session.flush()
    return post


def sign_in(client, user):  # type: ignore[no-untyped-def]
    """tests.fixtures.sign_in_as, plus the server-side session row when the accounts module keeps one."""
    forget_loaded_user()
    sign_in_as(client, user)
    try:
        from crm.accounts.session import new_session_row
    except ImportError:  # pragma: no cover
        return client
    raw = new_session_row(user)
    db.session.commit()
    # Flask-Login's session protection marks a session without its browser identifier not fresh.
    with client.application.test_request_context(environ_base=client.environ_base):
        identifier = login_manager._session_identifier_generator()
    with client.session_transaction() as session:
        session["_id"] = identifier
        session["sid"] = raw
        session["last_seen"] = utcnow().timestamp()
    return client


def forget_loaded_user() -> None:
    """Tests keep one app context, so Flask-Login's `g._login_user` would outlive a request."""
    g.pop("_login_user", None)
