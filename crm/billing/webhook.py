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
from crm.billing.events import checkout_handler_for, event_object
from crm.billing.models import PaymentKind, PaymentStatus, ProcessedStripeEvent
from crm.billing.refund_events import (
    PaymentNotYetRecorded,
    handle_charge_dispute_created,
    handle_charge_refunded,
    handle_refund_created,
)
from crm.billing.services import (
    collection_for,
    field,
    find_stripe_payment,
    id_of,
    insert_once,
    queue_receipt,
    record_failed_payment,
    record_stripe_payment,
    session_collection,
    timestamp,
)
from crm.billing.subscriptions import (
    follow_subscription_status,
    fresh_subscription,
    invoice_payment_intent,
    invoice_period,
    invoice_subscription_id,
    invoice_subscription_metadata,
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


def handle_checkout_session_completed(event: Any) -> str:
    """Hand a paid session to the domain that sold it (crm/billing/events.py)."""
    session_id = id_of(event_object(event))
    if not session_id:
        return "ignored"
    session = gateway.retrieve_checkout(session_id)
    if not direct_debit.offered(session):
        return "ignored"  # paid by a method the app never offered (logged)
    fulfil = checkout_handler_for(session)
    if fulfil is None:
        log.warning("checkout session %s: no domain fulfils its kind", session_id)
        return "ignored"
    return fulfil(session, stripe_event_id=field(event, "id"))  # in our terms: a CheckoutResult


handle_checkout_session_async_payment_succeeded = handle_checkout_session_completed


def handle_checkout_session_expired(event: Any) -> str:
    session = event_object(event)
    session_id = id_of(session)
    membership_id = db.session.scalar(
        select(Membership.id).where(Membership.stripe_checkout_session_id == session_id)
    )
    if membership_id is None:
        return "ignored"
    membership = locked_membership(membership_id)
    if membership is None or membership.status != MembershipStatus.PENDING:
        return "ignored"
    lifecycle.expire_pending(
        membership, reason="checkout session expired", stripe_event_id=field(event, "id")
    )
    membership.checkout_url = None
    return "expired"


def handle_invoice_paid(event: Any) -> str:
    invoice = event_object(event)
    sub_id = invoice_subscription_id(invoice)
    if not sub_id:
        return "ignored"  # one-off payments are handled by their checkout session
    metadata = invoice_subscription_metadata(invoice)
    if field(metadata, "kind") == "regular_donation":
        customer = id_of(field(invoice, "customer"))
        contact_id = db.session.scalar(select(Contact.id).where(Contact.stripe_customer_id == customer))
        return donations.record_regular_gift_payment(invoice, metadata, contact_id)
    membership = membership_for_subscription(sub_id, metadata)
    if membership is None:
        sub = fresh_subscription(sub_id, None)
        membership = membership_for_subscription(sub_id, field(sub, "metadata")) if sub is not None else None
    if membership is None:
        return "ignored"
    sub = fresh_subscription(sub_id, None)
    plan = plan_for_subscription(sub) if sub is not None else None
    if plan is None:
        return "ignored"
    start, end = invoice_period(invoice)
    if end is None:
        start, end = gateway.subscription_period(sub)
    paid_at = timestamp(field(field(invoice, "status_transitions"), "paid_at")) or utcnow()
    amount = int(field(invoice, "amount_paid") or 0)
    payment, created = record_stripe_payment(
        contact_id=membership.contact_id,
        membership_id=membership.id,
        kind=PaymentKind.MEMBERSHIP,
        amount=amount,
        currency=str(field(invoice, "currency") or plan.currency),
        paid_at=paid_at,
        invoice_id=id_of(invoice),
        payment_intent_id=invoice_payment_intent(invoice),
        charge_id=id_of(field(invoice, "charge")),
        gift_aid_eligible=plan.gift_aid_eligible,
    )
    first = field(invoice, "billing_reason") == "subscription_create"
    if first:  # a donation added at join is on the first invoice: its own payment
        extras = donations.invoice_extras_amount(invoice, plan.stripe_price_id, plan.stripe_product_id)
        donations.record_donation_part(payment, total=amount, donation=extras)
        amount = payment.amount
    if payment.status == PaymentStatus.FAILED:  # collected, then returned before this event came
        return collection_failures.payment_failed(payment, None, stripe_event_id=field(event, "id"))
    lifecycle.activate_from_payment(
        membership,
        period_start=start,
        paid_through=end,
        amount=amount,
        reason="first payment" if first else "renewal paid",
        stripe_event_id=field(event, "id"),
    )
    follow_subscription_status(membership, sub, field(event, "id"))
    if created:
        queue_receipt(payment)
    return "paid" if created else "already"


def handle_invoice_payment_failed(event: Any) -> str:
    invoice = event_object(event)
    sub_id = invoice_subscription_id(invoice)
    if not sub_id:
        return "ignored"
    membership = membership_for_subscription(sub_id, invoice_subscription_metadata(invoice))
    if membership is None:
        return "ignored"
    current = gateway.retrieve_invoice(str(id_of(invoice)))
    if field(current, "status") == "paid":
        return "stale"  # paid since (a retry succeeded): the failure no longer matters
    recorded = find_stripe_payment(invoice_id=str(id_of(invoice)))
    if recorded is not None:  # recorded paid, then its collection failed (a returned Direct Debit)
        return collection_failures.payment_failed(recorded, None, stripe_event_id=field(event, "id"))
    record_failed_payment(
        contact_id=membership.contact_id,
        membership_id=membership.id,
        amount=int(field(invoice, "amount_due") or 0),
        currency=str(field(invoice, "currency") or "gbp"),
        invoice_id=str(id_of(invoice)),
        message=str(field(field(invoice, "last_finalization_error"), "message") or "card payment failed"),
    )
    if field(invoice, "billing_reason") == "subscription_create":
        return "first_payment_failed"  # still pending: the supporter can try again
    lifecycle.enter_grace(membership, reason="renewal payment failed", stripe_event_id=field(event, "id"))
    dunning.queue_payment_failed_email(
        membership,
        amount=int(field(invoice, "amount_due") or 0),
        currency=str(field(invoice, "currency") or "gbp"),
        failure_key=str(id_of(invoice)),
    )
    return "grace"


def _apply_subscription_state(event: Any) -> str:
    sub_event = event_object(event)
    sub_id = id_of(sub_event)
    if not sub_id:
        return "ignored"
    sub = fresh_subscription(sub_id, sub_event)
    plan = plan_for_subscription(sub)
    if plan is None:
        return "ignored"
    membership = membership_for_subscription(sub_id, field(sub, "metadata"))
    if membership is None:
        return "ignored"
    created = int(field(event, "created") or 0)
    if membership.stripe_state_at is not None and created < membership.stripe_state_at:
        return "stale"
    membership.stripe_state_at = created
    event_id = field(event, "id")
    status = field(sub, "status")
    if plan.id != membership.plan_id and membership.status in (
        MembershipStatus.ACTIVE,
        MembershipStatus.GRACE,
    ):
        lifecycle.change_plan(membership, plan, actor=None)
    followed = follow_subscription_status(membership, sub, event_id)
    if followed is not None:
        return followed
    if status in ("active", "trialing") and membership.status in (
        MembershipStatus.ACTIVE,
        MembershipStatus.GRACE,
    ):
        wants_renewal = not bool(field(sub, "cancel_at_period_end"))
        if wants_renewal != membership.auto_renew or (not wants_renewal and membership.cancelled_at is None):
            lifecycle.set_auto_renew(
                membership,
                wants_renewal,
                reason="auto-renew turned on" if wants_renewal else "set to end at the period end",
                stripe_event_id=event_id,
            )
    db.session.flush()
    return "updated"


def handle_customer_subscription_created(event: Any) -> str:
    return _apply_subscription_state(event)


def handle_customer_subscription_updated(event: Any) -> str:
    return _apply_subscription_state(event)


def handle_customer_subscription_deleted(event: Any) -> str:
    return _apply_subscription_state(event)


HANDLERS: dict[str, Callable[[Any], str]] = {
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
    """Apply one event once, in the caller's transaction (the caller commits, or rolls back).

    `checked`: the caller has just looked the id up in this transaction and not found it (the
    marker's unique id still stops a delivery racing this one).
    Returns what happened: 'duplicate', 'unhandled', or the handler's result.
    """
    event_id = str(field(event, "id") or "")
    event_type = str(field(event, "type") or "")
    if not event_id:
        return "ignored"
    if not checked and already_processed(event_id):
        return "duplicate"
    marker = ProcessedStripeEvent(
        id=event_id, type=event_type[:100], created=int(field(event, "created") or 0)
    )
    handler = HANDLERS.get(event_type)
    with gateway.remembered_reads():
        if handler is not None:
            _prefetch(event, event_type)
        if not insert_once(marker):  # the same event, delivered twice at once: the other one applies it
            return "duplicate"
        _pause_for_fault_tests()
        if handler is None:
            return "unhandled"
        result = handler(event)
    log.info("stripe event %s %s: %s", event_id, event_type, result)
    return result


def _prefetch(event: Any, event_type: str) -> None:
    """Fetch from Stripe what the handler will read before the transaction writes anything: the
    network round trips then happen outside any lock (SQLite's write lock, PostgreSQL's row locks),
    so concurrent deliveries do not queue behind them. A failure here is left to the handler,
    which meets it again and handles it as it always does."""
    obj = event_object(event)
    try:
        if event_type.startswith("checkout.session.") and event_type != "checkout.session.expired":
            if id_of(obj):  # the session, how it was collected, and the period it paid for
                session = gateway.retrieve_checkout(str(id_of(obj)))
                session_collection(session)
                if session.invoice_id:
                    gateway.retrieve_invoice(session.invoice_id)
        elif event_type == "invoice.paid":
            sub_id = invoice_subscription_id(obj)
            if sub_id:
                gateway.retrieve_subscription(sub_id)
                if id_of(obj):  # its payment intent, and how that was paid
                    collection_for(str(id_of(obj)), None)
        elif event_type in ("charge.failed", "payment_intent.payment_failed"):
            intent = (
                id_of(obj) if event_type.startswith("payment_intent") else id_of(field(obj, "payment_intent"))
            )
            if intent:
                gateway.collection_of(str(intent))
        elif event_type == "invoice.payment_failed":
            if id_of(obj):
                gateway.retrieve_invoice(str(id_of(obj)))
        elif event_type.startswith("customer.subscription."):
            if id_of(obj):
                gateway.retrieve_subscription(str(id_of(obj)))
        elif event_type == "charge.refunded" and id_of(obj):
            gateway.retrieve_charge(str(id_of(obj)))
            gateway.list_charge_refunds(str(id_of(obj)))
    except gateway.GatewayError:
        return
