"""Which Stripe subscriptions and invoices are ours, and the memberships they bill.

Shared by the webhook, the reconciliation job and join's fulfilment: a subscription is ours when
it bills one of our plans' prices (or products), so a shared Stripe account makes no phantom
members.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from crm.billing import stripe_gateway as gateway
from crm.billing.services import field, id_of, timestamp
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipStatus, Plan


def _metadata_int(metadata: Any, key: str) -> int | None:
    try:
        value = int(field(metadata, key) or 0)
    except (TypeError, ValueError):
        return None
    return value or None


def _prices(sub: Any) -> tuple[tuple[str | None, str | None], ...]:
    if isinstance(sub, gateway.SubscriptionFacts):
        return sub.prices
    return gateway.subscription_facts(sub).prices


def plan_for_subscription(sub: Any) -> Plan | None:
    """Our plan whose price (or product, for a price since replaced) the subscription bills
    (a Stripe subscription, or its `SubscriptionFacts`)."""
    for price_id, product_id in _prices(sub):
        conditions = []
        if price_id:
            conditions.append(Plan.stripe_price_id == price_id)
        if product_id:
            conditions.append(Plan.stripe_product_id == product_id)
        if conditions:
            plan = db.session.scalar(select(Plan).where(or_(*conditions)).limit(1))
            if plan is not None:
                return plan
    return None


def subscription_is_ours(sub: Any) -> bool:
    return plan_for_subscription(sub) is not None


def locked_membership(membership_id: int) -> Membership | None:
    return db.session.get(Membership, membership_id, with_for_update=True, populate_existing=True)


def membership_for_subscription(sub_id: str, metadata: Any = None) -> Membership | None:
    """The membership billed by this subscription (by id, else by our metadata), row-locked."""
    found = db.session.scalar(select(Membership.id).where(Membership.stripe_subscription_id == sub_id))
    if found is None:
        found = _metadata_int(metadata, "membership_id")
        if found is None:
            return None
        membership = locked_membership(found)
        contact_id = _metadata_int(metadata, "contact_id")
        if membership is None or membership.contact_id != contact_id:
            return None
        if membership.stripe_subscription_id is None:
            membership.stripe_subscription_id = sub_id
            db.session.flush()
        return membership if membership.stripe_subscription_id == sub_id else None
    return locked_membership(found)


def fresh_subscription(sub_id: str, fallback: Any) -> Any:
    try:
        return gateway.retrieve_subscription(sub_id)
    except gateway.GatewayError as error:
        if error.kind == "not_found":
            return fallback
        raise


def invoice_subscription_id(invoice: Any) -> str | None:
    details = field(field(invoice, "parent"), "subscription_details")
    return id_of(field(details, "subscription"))


def invoice_subscription_metadata(invoice: Any) -> Any:
    return field(field(field(invoice, "parent"), "subscription_details"), "metadata") or {}


def invoice_period(invoice: Any) -> tuple[Any, Any]:
    starts, ends = [], []
    for line in field(field(invoice, "lines"), "data") or []:
        period = field(line, "period")
        if field(period, "end"):
            starts.append(int(field(period, "start") or 0))
            ends.append(int(field(period, "end")))
    if not ends:
        return None, None
    return timestamp(min(starts)), timestamp(max(ends))


def invoice_payment_intent(invoice: Any) -> str | None:
    """The invoice's payment intent (endive lists it under `payments`, fetched when not included)."""
    for row in field(field(invoice, "payments"), "data") or []:
        intent = id_of(field(field(row, "payment"), "payment_intent"))
        if intent:
            return intent
    return gateway.invoice_payment_intent_id(gateway.retrieve_invoice(str(id_of(invoice))))


#: Subscription statuses after which a membership must not keep running.
ENDED_SUBSCRIPTION_STATUSES = ("canceled", "unpaid", "incomplete_expired")


def follow_subscription_status(
    membership: Membership | None, sub: Any, stripe_event_id: str | None
) -> str | None:
    """Stripe's current subscription status wins, whatever order its events arrive in: an ended
    subscription ends the membership (one never started expires), a past-due one (a renewal
    failed, or was returned after it looked paid) puts a running membership into grace. Called by
    the subscription events and again after a payment started or extended the membership, since
    the failure may have been applied while there was nothing running to put into grace.
    Returns "ended", "grace" or None."""
    if isinstance(sub, gateway.SubscriptionFacts):
        status: str | None = sub.status
    else:
        status = field(sub, "status") if sub is not None else None
    if membership is None:
        return None
    if status in ENDED_SUBSCRIPTION_STATUSES:
        if membership.status in (MembershipStatus.PENDING, MembershipStatus.DIRECT_DEBIT_PENDING):
            lifecycle.expire_pending(
                membership, reason=f"Stripe subscription {status}", stripe_event_id=stripe_event_id
            )
        else:
            lifecycle.lapse(
                membership, reason=f"Stripe subscription {status}", stripe_event_id=stripe_event_id
            )
        return "ended"
    if status == "past_due":
        lifecycle.enter_grace(
            membership, reason="renewal payment failed (past due)", stripe_event_id=stripe_event_id
        )
        return "grace"
    return None


def period_paid_by(invoice_id: str | None, sub: Any) -> tuple[Any, Any]:
    """(start, end) of the period an invoice paid for; the subscription's current period when the
    invoice names none. Not simply the current period: by the time a first payment's event is
    applied, Stripe may have renewed (and the bank returned the renewal), and the first payment
    must not claim the period that renewal was for."""
    if invoice_id:
        start, end = invoice_period(gateway.retrieve_invoice(invoice_id))
        if end is not None:
            return start, end
    if isinstance(sub, gateway.SubscriptionFacts) and sub.period_end is not None:
        return sub.period_start, sub.period_end
    if isinstance(sub, gateway.SubscriptionFacts):
        sub = sub.id
    return gateway.subscription_period(gateway.retrieve_subscription(sub) if isinstance(sub, str) else sub)
