"""A collection that fails after it looked paid: a Bacs Direct Debit the bank returns days later.

Stripe sends `charge.failed` and `payment_intent.payment_failed` (and `invoice.payment_failed`
for an invoice) after `invoice.paid`, in any order, twice, or days late. The recorded payment is
marked failed and kept with the bank's message (its story stays; the donation collected with it
fails too), staff see it (`payment.failed` in the audit trail: the work list's "Payments
failing"), and the membership goes where the failure would have taken it at once
(crm/memberships/lifecycle/returned.py): a renewal into grace with the failed-payment email, a
first collection to no membership with the "Direct Debit did not go through" email, each sent
once. Every handler reads the charge from Stripe now, so an event about a charge that Stripe's
retry has collected since changes nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from crm.billing import direct_debit, dunning
from crm.billing import stripe_gateway as gateway
from crm.billing.models import Payment, PaymentKind, PaymentStatus
from crm.billing.services import find_payment_for_charge, record_failed_payment, set_collected
from crm.billing.subscriptions import locked_membership
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipStatus

#: Payments that brought money in: another one means this membership had started before.
_COLLECTED = (PaymentStatus.PAID, PaymentStatus.PARTLY_REFUNDED, PaymentStatus.REFUNDED)
#: A membership whose first payment is still to be applied.
_NOT_STARTED = (MembershipStatus.PENDING, MembershipStatus.DIRECT_DEBIT_PENDING)


def handle_charge_failed(event: gateway.StripeEvent) -> str:
    return _failed(event.object_id, event.payment_intent_id, event.id)


def handle_payment_intent_payment_failed(event: gateway.StripeEvent) -> str:
    return _failed(None, event.payment_intent_id, event.id)


def _failed(charge_id: str | None, payment_intent_id: str | None, stripe_event_id: str | None) -> str:
    payment = find_payment_for_charge(charge_id, payment_intent_id)
    if payment is None:
        return "ignored"  # nothing recorded as paid: a decline, which invoice.payment_failed answers
    return payment_failed(payment, payment_intent_id, stripe_event_id=stripe_event_id)


def payment_failed(payment: Payment, payment_intent_id: str | None, *, stripe_event_id: str | None) -> str:
    """The recorded `payment` (a membership, donation or event payment holding Stripe's ids):
    when Stripe says now that its charge failed, apply the failure, once."""
    intent = payment.stripe_payment_intent_id or payment_intent_id
    if not intent:
        return "ignored"
    collection = gateway.collection_of(intent)
    if not collection.failed:
        return "stale"  # collected after all (Stripe's retry): nothing failed
    if set_collected(payment, paid=False, message=collection.failure_message):
        record_failed_payment(
            contact_id=payment.contact_id,
            membership_id=payment.membership_id,
            amount=_total(payment),
            currency=payment.currency,
            invoice_id=payment.stripe_invoice_id or intent,
            message=f"collected, then returned by the bank: {collection.failure_message or 'no reason given'}",
        )
    membership = locked_membership(payment.membership_id) if payment.membership_id else None
    if membership is None or payment.kind != PaymentKind.MEMBERSHIP:
        return "payment_failed"
    invoice = gateway.invoice(payment.stripe_invoice_id) if payment.stripe_invoice_id else None
    if not _pays_a_renewal(membership, payment, invoice):
        return _first_collection_failed(membership, payment, stripe_event_id)
    lifecycle.renewal_returned(
        membership,
        unpaid_from=invoice.period_start if invoice is not None else None,
        reason="renewal payment returned unpaid",
        stripe_event_id=stripe_event_id,
    )
    # Not started yet: its first payment's events are still to come, and it enters grace then
    # (Stripe's subscription is past due), so the member is told now, as at any other order.
    if membership.status in (MembershipStatus.GRACE, *_NOT_STARTED):
        dunning.queue_payment_failed_email(
            membership,
            amount=payment.amount,
            currency=payment.currency,
            failure_key=payment.stripe_invoice_id or intent,
        )
    return "grace"


def _first_collection_failed(membership: Membership, payment: Payment, stripe_event_id: str | None) -> str:
    lifecycle.first_collection_returned(
        membership, reason="first payment returned unpaid", stripe_event_id=stripe_event_id
    )
    session_id = payment.stripe_checkout_session_id or membership.stripe_checkout_session_id
    if membership.status == MembershipStatus.EXPIRED:
        direct_debit.queue_failed_email(
            membership,
            amount=_total(payment),
            currency=payment.currency,
            session_id=session_id or payment.stripe_invoice_id or str(payment.id),
        )
    return "first_payment_failed"


def _total(payment: Payment) -> int:
    """What the charge was for: the payment and the donation collected with it."""
    parts = db.session.scalars(select(Payment.amount).where(Payment.part_of_id == payment.id))
    return payment.amount + sum(parts)


def _pays_a_renewal(membership: Membership, payment: Payment, invoice: gateway.InvoiceFacts | None) -> bool:
    """True when the failed payment was for a renewal, not the first period. Stripe's invoice says
    which (its billing reason), whatever order the events came in; without an invoice, another
    payment that had already brought this membership money says so."""
    if invoice is not None:
        return not invoice.opens_subscription
    other = db.session.scalar(
        select(Payment.id)
        .where(
            Payment.membership_id == membership.id,
            Payment.id != payment.id,
            Payment.kind == PaymentKind.MEMBERSHIP,
            Payment.status.in_(_COLLECTED),
        )
        .limit(1)
    )
    return other is not None
