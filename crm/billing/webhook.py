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
from sqlalchemy import func, or_, select

from crm.billing import direct_debit, donations, dunning, refunds
from crm.billing import stripe_gateway as gateway
from crm.billing.models import ProcessedStripeEvent, Refund
from crm.billing.services import (
    apply_refund_total,
    field,
    find_payment_for_charge,
    flag_dispute,
    id_of,
    insert_once,
    queue_receipt,
    record_failed_payment,
    record_stripe_payment,
    timestamp,
)
from crm.contacts.models import Contact
from crm.core.types import utcnow
from crm.email.services import queue_email
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, Plan

log = logging.getLogger("crm.billing.webhook")


def _object(event: Any) -> Any:
    return field(field(event, "data"), "object")


def _metadata_int(metadata: Any, key: str) -> int | None:
    try:
        value = int(field(metadata, key) or 0)
    except (TypeError, ValueError):
        return None
    return value or None


# --- which subscriptions are ours ----------------------------------------------------------------


def plan_for_subscription(sub: Any) -> Plan | None:
    """Our plan whose price (or product, for a price since replaced) the subscription bills."""
    items = field(field(sub, "items"), "data") or []
    for item in items:
        price = field(item, "price")
        price_id = id_of(price)
        product_id = id_of(field(price, "product"))
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


def _locked(membership_id: int) -> Membership | None:
    return db.session.get(Membership, membership_id, with_for_update=True, populate_existing=True)


def membership_for_subscription(sub_id: str, metadata: Any = None) -> Membership | None:
    """The membership billed by this subscription (by id, else by our metadata), row-locked."""
    found = db.session.scalar(select(Membership.id).where(Membership.stripe_subscription_id == sub_id))
    if found is None:
        found = _metadata_int(metadata, "membership_id")
        if found is None:
            return None
        membership = _locked(found)
        contact_id = _metadata_int(metadata, "contact_id")
        if membership is None or membership.contact_id != contact_id:
            return None
        if membership.stripe_subscription_id is None:
            membership.stripe_subscription_id = sub_id
            db.session.flush()
        return membership if membership.stripe_subscription_id == sub_id else None
    return _locked(found)


def _fresh_subscription(sub_id: str, fallback: Any) -> Any:
    try:
        return gateway.retrieve_subscription(sub_id)
    except gateway.GatewayError as error:
        if error.kind == "not_found":
            return fallback
        raise


def _invoice_subscription_id(invoice: Any) -> str | None:
    details = field(field(invoice, "parent"), "subscription_details")
    return id_of(field(details, "subscription"))


def _invoice_subscription_metadata(invoice: Any) -> Any:
    return field(field(field(invoice, "parent"), "subscription_details"), "metadata") or {}


def _invoice_period(invoice: Any) -> tuple[Any, Any]:
    starts, ends = [], []
    for line in field(field(invoice, "lines"), "data") or []:
        period = field(line, "period")
        if field(period, "end"):
            starts.append(int(field(period, "start") or 0))
            ends.append(int(field(period, "end")))
    if not ends:
        return None, None
    return timestamp(min(starts)), timestamp(max(ends))


def _invoice_payment_intent(invoice: Any) -> str | None:
    """The invoice's payment intent (endive lists it under `payments`, fetched when not included)."""
    for row in field(field(invoice, "payments"), "data") or []:
        intent = id_of(field(field(row, "payment"), "payment_intent"))
        if intent:
            return intent
    return gateway.invoice_payment_intent_id(gateway.retrieve_invoice(str(id_of(invoice))))


#: Subscription statuses after which a membership must not keep running.
ENDED_SUBSCRIPTION_STATUSES = ("canceled", "unpaid", "incomplete_expired")


def _settle_if_subscription_ended(membership: Membership | None, sub: Any, event: Any) -> None:
    """A payment (or checkout) that arrives after Stripe ended the subscription is recorded, but must
    not leave the membership running: Stripe's current state wins, whatever the arrival order."""
    status = field(sub, "status") if sub is not None else None
    if membership is None or status not in ENDED_SUBSCRIPTION_STATUSES:
        return
    lifecycle.lapse(membership, reason=f"Stripe subscription {status}", stripe_event_id=field(event, "id"))


# --- handlers ---------------------------------------------------------------------------------


def handle_checkout_session_completed(event: Any) -> str:
    from crm.join.services import fulfil_checkout_session

    session_id = id_of(_object(event))
    if not session_id:
        return "ignored"
    session = gateway.retrieve_checkout_session(session_id)
    if not direct_debit.offered(session):
        return "ignored"  # paid by a method the app never offered (logged)
    if field(field(session, "metadata") or {}, "kind") == "event_booking":
        from crm.events.payments import fulfil_booking

        return fulfil_booking(session, stripe_event_id=field(event, "id"))
    result = fulfil_checkout_session(session, stripe_event_id=field(event, "id"))
    if result == "unpaid":  # Bacs Direct Debit: collected days later
        return direct_debit.note_awaiting_collection(session, stripe_event_id=field(event, "id"))
    subscription = field(session, "subscription")
    sub_id = id_of(subscription)
    if sub_id:
        membership_id = db.session.scalar(
            select(Membership.id).where(Membership.stripe_subscription_id == sub_id)
        )
        if membership_id is not None:
            # The session was fetched just now with its subscription expanded: that is Stripe's
            # current state already, so it is not fetched a second time.
            current = subscription if not isinstance(subscription, str) else _fresh_subscription(sub_id, None)
            _settle_if_subscription_ended(_locked(membership_id), current, event)
    return result


handle_checkout_session_async_payment_succeeded = handle_checkout_session_completed


def handle_checkout_session_expired(event: Any) -> str:
    session = _object(event)
    session_id = id_of(session)
    membership_id = db.session.scalar(
        select(Membership.id).where(Membership.stripe_checkout_session_id == session_id)
    )
    if membership_id is None:
        return "ignored"
    membership = _locked(membership_id)
    if membership is None or membership.status != "pending":
        return "ignored"
    lifecycle.expire_pending(
        membership, reason="checkout session expired", stripe_event_id=field(event, "id")
    )
    membership.checkout_url = None
    return "expired"


def handle_invoice_paid(event: Any) -> str:
    invoice = _object(event)
    sub_id = _invoice_subscription_id(invoice)
    if not sub_id:
        return "ignored"  # one-off payments are handled by their checkout session
    metadata = _invoice_subscription_metadata(invoice)
    if field(metadata, "kind") == "regular_donation":
        customer = id_of(field(invoice, "customer"))
        contact_id = db.session.scalar(select(Contact.id).where(Contact.stripe_customer_id == customer))
        return donations.record_regular_gift_payment(invoice, metadata, contact_id)
    membership = membership_for_subscription(sub_id, metadata)
    if membership is None:
        sub = _fresh_subscription(sub_id, None)
        membership = membership_for_subscription(sub_id, field(sub, "metadata")) if sub is not None else None
    if membership is None:
        return "ignored"
    sub = _fresh_subscription(sub_id, None)
    plan = plan_for_subscription(sub) if sub is not None else None
    if plan is None:
        return "ignored"
    start, end = _invoice_period(invoice)
    if end is None:
        start, end = gateway.subscription_period(sub)
    paid_at = timestamp(field(field(invoice, "status_transitions"), "paid_at")) or utcnow()
    amount = int(field(invoice, "amount_paid") or 0)
    payment, created = record_stripe_payment(
        contact_id=membership.contact_id,
        membership_id=membership.id,
        kind="membership",
        amount=amount,
        currency=str(field(invoice, "currency") or plan.currency),
        paid_at=paid_at,
        invoice_id=id_of(invoice),
        payment_intent_id=_invoice_payment_intent(invoice),
        charge_id=id_of(field(invoice, "charge")),
        gift_aid_eligible=plan.gift_aid_eligible,
    )
    first = field(invoice, "billing_reason") == "subscription_create"
    if first:  # a donation added at join is on the first invoice: its own payment
        extras = donations.invoice_extras_amount(invoice, plan.stripe_price_id, plan.stripe_product_id)
        donations.record_donation_part(payment, total=amount, donation=extras)
        amount = payment.amount
    lifecycle.activate_from_payment(
        membership,
        period_start=start,
        paid_through=end,
        amount=amount,
        reason="first payment" if first else "renewal paid",
        stripe_event_id=field(event, "id"),
    )
    _settle_if_subscription_ended(membership, sub, event)
    if created:
        queue_receipt(payment)
    return "paid" if created else "already"


def handle_invoice_payment_failed(event: Any) -> str:
    invoice = _object(event)
    sub_id = _invoice_subscription_id(invoice)
    if not sub_id:
        return "ignored"
    membership = membership_for_subscription(sub_id, _invoice_subscription_metadata(invoice))
    if membership is None:
        return "ignored"
    current = gateway.retrieve_invoice(str(id_of(invoice)))
    if field(current, "status") == "paid":
        return "stale"  # paid since (a retry succeeded): the failure no longer matters
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
    _queue_payment_failed_email(membership, invoice)
    return "grace"


def _queue_payment_failed_email(membership: Any, invoice: Any) -> None:
    """Tell the member once per failed invoice, with the way to update their card."""
    contact = membership.contact
    if contact.erased_at is not None:
        return
    queue_email(
        contact.email,
        "payment_failed",
        {
            "first_name": contact.first_name,
            "plan_name": membership.plan.name,
            "amount": int(field(invoice, "amount_due") or 0),
            "currency": str(field(invoice, "currency") or "gbp"),
            "grace_until": membership.grace_until,
            "update_url": dunning.update_details_url(contact) if contact.stripe_customer_id else None,
        },
        contact_id=contact.id,
        dedupe_key=f"payment_failed:{id_of(invoice)}",
    )


def _apply_subscription_state(event: Any) -> str:
    sub_event = _object(event)
    sub_id = id_of(sub_event)
    if not sub_id:
        return "ignored"
    sub = _fresh_subscription(sub_id, sub_event)
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
    if plan.id != membership.plan_id and membership.status in ("active", "grace"):
        lifecycle.change_plan(membership, plan, actor=None)
    if status in ("canceled", "unpaid", "incomplete_expired"):
        if membership.status in ("pending", "direct_debit_pending"):
            lifecycle.expire_pending(
                membership, reason=f"Stripe subscription {status}", stripe_event_id=event_id
            )
        else:
            lifecycle.lapse(membership, reason=f"Stripe subscription {status}", stripe_event_id=event_id)
        return "ended"
    if status == "past_due":
        lifecycle.enter_grace(
            membership, reason="renewal payment failed (past due)", stripe_event_id=event_id
        )
        return "grace"
    if status in ("active", "trialing") and membership.status in ("active", "grace"):
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


def _audit_refund(payment: Any, event: Any) -> None:
    from crm.audit.services import record

    record(
        "payment.refunded",
        target_type="payment",
        target_id=payment.id,
        contact_id=payment.contact_id,
        actor_label="stripe",
        detail=f"refunded {payment.amount_refunded} of {payment.amount} (event {field(event, 'id')})",
    )


class PaymentNotYetRecorded(RuntimeError):
    """A refund of one of our customers' charges arrived before the payment it refunds."""


def _retry_if_payment_not_yet_recorded(charge: Any) -> None:
    """Refuse (so Stripe redelivers later) a refund event that came before its payment's event;
    a charge of a customer we do not know is not ours and is ignored."""
    customer_id = id_of(field(charge, "customer"))
    if customer_id and db.session.scalar(select(Contact.id).where(Contact.stripe_customer_id == customer_id)):
        raise PaymentNotYetRecorded(f"charge {id_of(charge)}: its payment is not recorded yet")


def handle_charge_refunded(event: Any) -> str:
    """The charge's current refunded total (re-fetched) is a floor for the payment's."""
    charge_id = id_of(_object(event))
    if not charge_id:
        return "ignored"
    charge = gateway.retrieve_charge(charge_id)
    payment = find_payment_for_charge(charge_id, id_of(field(charge, "payment_intent")))
    if payment is None:
        _retry_if_payment_not_yet_recorded(charge)
        return "ignored"
    if not payment.stripe_charge_id:
        payment.stripe_charge_id = charge_id
    changed = donations.apply_charge_refunds(payment, charge_id, int(field(charge, "amount_refunded") or 0))
    for refunded in changed:
        _audit_refund(refunded, event)
    db.session.flush()
    return "refunded" if changed else "already"


def handle_refund_created(event: Any) -> str:
    """One Refund row per Stripe refund id (a staff refund may have recorded it already)."""
    refund = _object(event)
    refund_id = id_of(refund)
    if not refund_id or field(refund, "status") in ("failed", "canceled"):
        return "ignored"
    charge_id = id_of(field(refund, "charge"))
    payment = find_payment_for_charge(charge_id, id_of(field(refund, "payment_intent")))
    if payment is None:
        if charge_id:
            _retry_if_payment_not_yet_recorded(gateway.retrieve_charge(charge_id))
        return "ignored"
    if db.session.scalar(select(Refund.id).where(Refund.stripe_refund_id == refund_id)) is not None:
        return "already"
    payment = donations.refund_target(payment, field(refund, "metadata"))
    staff_reason, staff_id = refunds.story_from_metadata(field(refund, "metadata"))
    row = Refund(
        payment_id=payment.id,
        amount=int(field(refund, "amount") or 0),
        stripe_refund_id=refund_id,
        reason=staff_reason or str(field(refund, "reason") or "refunded in Stripe")[:200],
        created_by_id=staff_id,
    )
    db.session.add(row)
    db.session.flush()
    total = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.payment_id == payment.id)
    )
    if apply_refund_total(payment, int(total or 0)):
        _audit_refund(payment, event)
    refunds.queue_refund_email(row)
    return "refunded"


def handle_charge_dispute_created(event: Any) -> str:
    dispute = _object(event)
    payment = find_payment_for_charge(
        id_of(field(dispute, "charge")), id_of(field(dispute, "payment_intent"))
    )
    if payment is None:
        return "ignored"
    flag_dispute(
        payment,
        status=str(field(dispute, "status") or "needs_response"),
        reason=str(field(dispute, "reason") or "unknown reason"),
        stripe_event_id=str(field(event, "id")),
    )
    return "flagged"


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
    obj = _object(event)
    try:
        if event_type.startswith("checkout.session.") and event_type != "checkout.session.expired":
            if id_of(obj):
                gateway.retrieve_checkout_session(str(id_of(obj)))
        elif event_type == "invoice.paid":
            sub_id = _invoice_subscription_id(obj)
            if sub_id:
                gateway.retrieve_subscription(sub_id)
                if field(obj, "payments") is None and id_of(obj):  # read for its payment intent
                    gateway.retrieve_invoice(str(id_of(obj)))
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
