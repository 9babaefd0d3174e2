"""Stripe events: one plain `handle_<type>(event)` function per event type, and `process_event`.

`process_event` records the event id in the caller's transaction together with its effects, so
a redelivery finds the id and does nothing, and a failure rolls both back for Stripe to retry.
Handlers take current state from Stripe (a re-fetched subscription, invoice or charge) and keep
`Membership.stripe_state_at`, so an older event never overwrites newer state. Events for prices
or products that are not our plans are ignored: a shared Stripe account makes no phantom members.
The reconciliation job calls `process_event` with events it lists from Stripe.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import select

from crm.billing import collection_failures, direct_debit, donations, dunning
from crm.billing import stripe_gateway as gateway
from crm.billing.events import checkout_handler_for
from crm.billing.models import PaymentKind, PaymentStatus, ProcessedStripeEvent
from crm.billing.refund_events import (
    PaymentNotYetRecorded,
    handle_charge_dispute_created,
    handle_charge_refunded,
    handle_refund_created,
)
from crm.billing.services import (
    collection_for,
    find_stripe_payment,
    insert_once,
    queue_receipt,
    record_failed_payment,
    record_stripe_payment,
    session_collection,
)
from crm.billing.subscriptions import (
    follow_subscription_status,
    fresh_subscription,
    locked_membership,
    membership_for_subscription,
    plan_for_subscription,
    subscription_is_ours,
)
from crm.contacts.models import Contact
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipStatus

log = logging.getLogger("crm.billing.webhook")

__all__ = ["HANDLERS", "PaymentNotYetRecorded", "already_processed", "process_event", "subscription_is_ours"]


# --- handlers ---------------------------------------------------------------------------------
# Each takes the event in our terms (`gateway.StripeEvent`): `process_event` turns Stripe's event
# into it once, so no handler reads a Stripe object.


def handle_checkout_session_completed(event: gateway.StripeEvent) -> str:
    """Hand a paid session to the domain that sold it (crm/billing/events.py)."""
    if not event.object_id:
        return "ignored"
    session = gateway.retrieve_checkout(event.object_id)
    if not direct_debit.offered(session):
        return "ignored"  # paid by a method the app never offered (logged)
    fulfil = checkout_handler_for(session)
    if fulfil is None:
        log.warning("checkout session %s: no domain fulfils its kind", event.object_id)
        return "ignored"
    return fulfil(session, stripe_event_id=event.id)  # in our terms: a CheckoutResult


handle_checkout_session_async_payment_succeeded = handle_checkout_session_completed


def handle_checkout_session_expired(event: gateway.StripeEvent) -> str:
    membership_id = db.session.scalar(
        select(Membership.id).where(Membership.stripe_checkout_session_id == event.object_id)
    )
    if membership_id is None:
        return "ignored"
    membership = locked_membership(membership_id)
    if membership is None or membership.status != MembershipStatus.PENDING:
        return "ignored"
    lifecycle.expire_pending(membership, reason="checkout session expired", stripe_event_id=event.id)
    membership.checkout_url = None
    return "expired"


def handle_invoice_paid(event: gateway.StripeEvent) -> str:
    invoice = event.invoice
    sub_id = invoice.subscription_id if invoice is not None else None
    if invoice is None or not sub_id:
        return "ignored"  # one-off payments are handled by their checkout session
    metadata = invoice.subscription_metadata
    if metadata.get("kind") == "regular_donation":
        contact_id = db.session.scalar(
            select(Contact.id).where(Contact.stripe_customer_id == invoice.customer_id)
        )
        return donations.record_regular_gift_payment(invoice, contact_id)
    membership = membership_for_subscription(sub_id, metadata)
    sub = fresh_subscription(sub_id, None)
    if membership is None and sub is not None:
        membership = membership_for_subscription(sub_id, sub.metadata)
    if membership is None:
        return "ignored"
    plan = plan_for_subscription(sub) if sub is not None else None
    if sub is None or plan is None:
        return "ignored"
    start, end = invoice.period_start, invoice.period_end
    if start is None or end is None:
        start, end = sub.period_start, sub.period_end
    if start is None or end is None:  # Stripe always names a period: fail, and Stripe retries
        raise RuntimeError(f"invoice {invoice.id}: no period to apply")
    amount = invoice.amount_paid
    payment, created = record_stripe_payment(
        contact_id=membership.contact_id,
        membership_id=membership.id,
        kind=PaymentKind.MEMBERSHIP,
        amount=amount,
        currency=invoice.currency or plan.currency,
        paid_at=invoice.paid_at or utcnow(),
        invoice_id=invoice.id,
        payment_intent_id=gateway.payment_intent_of(invoice),
        charge_id=invoice.charge_id,
        gift_aid_eligible=plan.gift_aid_eligible,
    )
    first = invoice.opens_subscription
    if first:  # a donation added at join is on the first invoice: its own payment
        extras = donations.invoice_extras_amount(invoice, plan.stripe_price_id, plan.stripe_product_id)
        donations.record_donation_part(payment, total=amount, donation=extras)
        amount = payment.amount
    if payment.status == PaymentStatus.FAILED:  # collected, then returned before this event came
        return collection_failures.payment_failed(payment, None, stripe_event_id=event.id)
    lifecycle.activate_from_payment(
        membership,
        period_start=start,
        paid_through=end,
        amount=amount,
        reason="first payment" if first else "renewal paid",
        stripe_event_id=event.id,
    )
    follow_subscription_status(membership, sub, event.id)
    if created:
        queue_receipt(payment)
    return "paid" if created else "already"


def handle_invoice_payment_failed(event: gateway.StripeEvent) -> str:
    invoice = event.invoice
    sub_id = invoice.subscription_id if invoice is not None else None
    if invoice is None or not sub_id:
        return "ignored"
    membership = membership_for_subscription(sub_id, invoice.subscription_metadata)
    if membership is None:
        return "ignored"
    if gateway.invoice(invoice.id).paid:
        return "stale"  # paid since (a retry succeeded): the failure no longer matters
    recorded = find_stripe_payment(invoice_id=invoice.id)
    if recorded is not None:  # recorded paid, then its collection failed (a returned Direct Debit)
        return collection_failures.payment_failed(recorded, None, stripe_event_id=event.id)
    record_failed_payment(
        contact_id=membership.contact_id,
        membership_id=membership.id,
        amount=invoice.amount_due,
        currency=invoice.currency,
        invoice_id=invoice.id,
        message=invoice.failure_message or "card payment failed",
    )
    if invoice.opens_subscription:
        return "first_payment_failed"  # still pending: the supporter can try again
    lifecycle.enter_grace(membership, reason="renewal payment failed", stripe_event_id=event.id)
    dunning.queue_payment_failed_email(
        membership, amount=invoice.amount_due, currency=invoice.currency, failure_key=invoice.id
    )
    return "grace"


def _apply_subscription_state(event: gateway.StripeEvent) -> str:
    if not event.object_id:
        return "ignored"
    sub = fresh_subscription(event.object_id, event.subscription)
    plan = plan_for_subscription(sub) if sub is not None else None
    if sub is None or plan is None:
        return "ignored"
    membership = membership_for_subscription(event.object_id, sub.metadata)
    if membership is None:
        return "ignored"
    if membership.stripe_state_at is not None and event.created < membership.stripe_state_at:
        return "stale"
    membership.stripe_state_at = event.created
    running = (MembershipStatus.ACTIVE, MembershipStatus.GRACE)
    if plan.id != membership.plan_id and membership.status in running:
        lifecycle.change_plan(membership, plan, actor=None)
    followed = follow_subscription_status(membership, sub, event.id)
    if followed is not None:
        return followed
    if sub.running and membership.status in running:
        wants_renewal = not sub.cancel_at_period_end
        if wants_renewal != membership.auto_renew or (not wants_renewal and membership.cancelled_at is None):
            lifecycle.set_auto_renew(
                membership,
                wants_renewal,
                reason="auto-renew turned on" if wants_renewal else "set to end at the period end",
                stripe_event_id=event.id,
            )
    db.session.flush()
    return "updated"


def handle_customer_subscription_created(event: gateway.StripeEvent) -> str:
    return _apply_subscription_state(event)


def handle_customer_subscription_updated(event: gateway.StripeEvent) -> str:
    return _apply_subscription_state(event)


def handle_customer_subscription_deleted(event: gateway.StripeEvent) -> str:
    return _apply_subscription_state(event)


HANDLERS: dict[str, Callable[[gateway.StripeEvent], str]] = {
    "checkout.session.completed": handle_checkout_session_completed,
    "checkout.session.async_payment_succeeded": handle_checkout_session_async_payment_succeeded,
    "checkout.session.expired": handle_checkout_session_expired,
    "checkout.session.async_payment_failed": direct_debit.handle_async_payment_failed,
    "invoice.paid": handle_invoice_paid,
    "invoice.payment_failed": handle_invoice_payment_failed,
    "customer.subscription.created": handle_customer_subscription_created,
    "customer.subscription.updated": handle_customer_subscription_updated,
    "customer.subscription.deleted": handle_customer_subscription_deleted,
    "charge.refunded": handle_charge_refunded,
    "refund.created": handle_refund_created,
    "charge.dispute.created": handle_charge_dispute_created,
    "charge.failed": collection_failures.handle_charge_failed,
    "payment_intent.payment_failed": collection_failures.handle_payment_intent_payment_failed,
}


def _pause_for_fault_tests() -> None:
    """Process-fault tests only (never in production): when CRM_FAULT_PAUSE_FILE names a file that
    exists, remove it and sleep after the first INSERT, so the test can SIGKILL this worker
    mid-transaction and check that nothing half-written survives."""
    path = os.environ.get("CRM_FAULT_PAUSE_FILE")
    if not path or current_app.config.get("ENV_NAME") == "production":
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        return
    db.session.flush()
    time.sleep(float(os.environ.get("CRM_FAULT_PAUSE_SECONDS", "20")))


def already_processed(event_id: str) -> bool:
    return db.session.get(ProcessedStripeEvent, event_id) is not None


def process_event(event: Any, *, checked: bool = False) -> str:
    """Apply one event (as Stripe sent it, or already in our terms) once, in the caller's
    transaction (the caller commits, or rolls back).

    `checked`: the caller has just looked the id up in this transaction and not found it (the
    marker's unique id still stops a delivery racing this one).
    Returns what happened: 'duplicate', 'unhandled', or the handler's result.
    """
    facts = event if isinstance(event, gateway.StripeEvent) else gateway.stripe_event(event)
    if not facts.id:
        return "ignored"
    if not checked and already_processed(facts.id):
        return "duplicate"
    marker = ProcessedStripeEvent(id=facts.id, type=facts.type[:100], created=facts.created)
    handler = HANDLERS.get(facts.type)
    with gateway.remembered_reads():
        if handler is not None:
            _prefetch(facts)
        if not insert_once(marker):  # the same event, delivered twice at once: the other one applies it
            return "duplicate"
        _pause_for_fault_tests()
        if handler is None:
            return "unhandled"
        result = handler(facts)
    log.info("stripe event %s %s: %s", facts.id, facts.type, result)
    return result


def _prefetch(event: gateway.StripeEvent) -> None:
    """Fetch from Stripe what the handler will read before the transaction writes anything: the
    network round trips then happen outside any lock (SQLite's write lock, PostgreSQL's row locks),
    so concurrent deliveries do not queue behind them. A failure here is left to the handler,
    which meets it again and handles it as it always does."""
    kind, object_id = event.type, event.object_id
    try:
        if kind.startswith("checkout.session.") and kind != "checkout.session.expired":
            if object_id:  # the session, how it was collected, and the period it paid for
                session = gateway.retrieve_checkout(object_id)
                session_collection(session)
                if session.invoice_id:
                    gateway.invoice(session.invoice_id)
        elif kind == "invoice.paid":
            if event.invoice is not None and event.invoice.subscription_id:
                gateway.subscription(event.invoice.subscription_id)
                if object_id:  # its payment intent, and how that was paid
                    collection_for(object_id, None)
        elif kind in ("charge.failed", "payment_intent.payment_failed"):
            if event.payment_intent_id:
                gateway.collection_of(event.payment_intent_id)
        elif kind == "invoice.payment_failed":
            if object_id:
                gateway.invoice(object_id)
        elif kind.startswith("customer.subscription."):
            if object_id:
                gateway.subscription(object_id)
        elif kind == "charge.refunded" and object_id:
            gateway.charge(object_id)
            gateway.list_charge_refunds(object_id)
    except gateway.GatewayError:
        return
