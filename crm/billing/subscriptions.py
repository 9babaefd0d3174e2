"""Which Stripe subscriptions and invoices are ours, and the memberships they bill.

Shared by the webhook, the reconciliation job and join's fulfilment: a subscription is ours when
it bills one of our plans' prices (or products), so a shared Stripe account makes no phantom
members.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from crm.billing import stripe_gateway as gateway
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipStatus, Plan


def _metadata_int(metadata: dict[str, str] | None, key: str) -> int | None:
    try:
        value = int((metadata or {}).get(key) or 0)
    except (TypeError, ValueError):
        return None
    return value or None


def plan_for_subscription(sub: gateway.SubscriptionFacts) -> Plan | None:
    """Our plan whose price (or product, for a price since replaced) the subscription bills."""
    for price_id, product_id in sub.prices:
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


def subscription_is_ours(sub: gateway.SubscriptionFacts) -> bool:
    return plan_for_subscription(sub) is not None


def locked_membership(membership_id: int) -> Membership | None:
    return db.session.get(Membership, membership_id, with_for_update=True, populate_existing=True)


def membership_for_subscription(sub_id: str, metadata: dict[str, str] | None = None) -> Membership | None:
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


def fresh_subscription(
    sub_id: str, fallback: gateway.SubscriptionFacts | None
) -> gateway.SubscriptionFacts | None:
    """The subscription as Stripe has it now; `fallback` when Stripe no longer has it."""
    try:
        return gateway.subscription(sub_id)
    except gateway.GatewayError as error:
        if error.kind == "not_found":
            return fallback
        raise


def follow_subscription_status(
    membership: Membership | None, sub: gateway.SubscriptionFacts | None, stripe_event_id: str | None
) -> str | None:
    """Stripe's current subscription status wins, whatever order its events arrive in: an ended
    subscription ends the membership (one never started expires), a past-due one (a renewal
    failed, or was returned after it looked paid) puts a running membership into grace. Called by
    the subscription events and again after a payment started or extended the membership, since
    the failure may have been applied while there was nothing running to put into grace.
    Returns "ended", "grace" or None."""
    if membership is None or sub is None:
        return None
    status = sub.status
    if sub.ended:
        if membership.status in (MembershipStatus.PENDING, MembershipStatus.DIRECT_DEBIT_PENDING):
            lifecycle.expire_pending(
                membership, reason=f"Stripe subscription {status}", stripe_event_id=stripe_event_id
            )
        else:
            lifecycle.lapse(
                membership, reason=f"Stripe subscription {status}", stripe_event_id=stripe_event_id
            )
        return "ended"
    if sub.past_due:
        lifecycle.enter_grace(
            membership, reason="renewal payment failed (past due)", stripe_event_id=stripe_event_id
        )
        return "grace"
    return None


def period_paid_by(
    invoice_id: str | None, sub: gateway.SubscriptionFacts | str
) -> tuple[datetime | None, datetime | None]:
    """(start, end) of the period an invoice paid for; the subscription's current period when the
    invoice names none. Not simply the current period: by the time a first payment's event is
    applied, Stripe may have renewed (and the bank returned the renewal), and the first payment
    must not claim the period that renewal was for."""
    if invoice_id:
        paid = gateway.invoice(invoice_id)
        if paid.period_end is not None:
            return paid.period_start, paid.period_end
    if isinstance(sub, str) or sub.period_end is None:
        sub = gateway.subscription(sub if isinstance(sub, str) else sub.id)
    return sub.period_start, sub.period_end
