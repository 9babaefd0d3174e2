"""Stripe's refund and dispute events: refunded totals, Refund rows and dispute flags."""

from __future__ import annotations

from sqlalchemy import select

from crm.billing import donations, refunds
from crm.billing import stripe_gateway as gateway
from crm.billing.models import Payment
from crm.billing.services import find_payment_for_charge, flag_dispute
from crm.contacts.models import Contact
from crm.core.database import locked_for_update
from crm.extensions import db


def _audit_refund(payment: Payment, event: gateway.StripeEvent) -> None:
    from crm.audit.services import record

    record(
        "payment.refunded",
        target_type="payment",
        target_id=payment.id,
        contact_id=payment.contact_id,
        actor_label="stripe",
        detail=f"refunded {payment.amount_refunded} of {payment.amount} (event {event.id})",
    )


class PaymentNotYetRecorded(RuntimeError):
    """A refund of one of our customers' charges arrived before the payment it refunds."""


def _retry_if_payment_not_yet_recorded(charge: gateway.ChargeFacts) -> None:
    """Refuse (so Stripe redelivers later) a refund event that came before its payment's event;
    a charge of a customer we do not know is not ours and is ignored."""
    customer_id = charge.customer_id
    if customer_id and db.session.scalar(select(Contact.id).where(Contact.stripe_customer_id == customer_id)):
        raise PaymentNotYetRecorded(f"charge {charge.id}: its payment is not recorded yet")


def handle_charge_refunded(event: gateway.StripeEvent) -> str:
    """The charge's current refunded total (re-fetched) is a floor for the payment's."""
    charge_id = event.object_id
    if not charge_id:
        return "ignored"
    charge = gateway.charge(charge_id)
    payment = find_payment_for_charge(charge_id, charge.payment_intent_id)
    if payment is None:
        _retry_if_payment_not_yet_recorded(charge)
        return "ignored"
    payment = locked_for_update(Payment, payment.id)  # as record_refund does: one writer at a time
    if not payment.stripe_charge_id:
        payment.stripe_charge_id = charge_id
    changed = donations.apply_charge_refunds(payment, charge_id, charge.amount_refunded)
    for refunded in changed:
        _audit_refund(refunded, event)
    db.session.flush()
    return "refunded" if changed else "already"


def handle_refund_created(event: gateway.StripeEvent) -> str:
    """One Refund row per Stripe refund id (a staff refund may have recorded it already)."""
    refund = event.refund
    if refund is None or not refund.id or not refund.gave_money_back:
        return "ignored"
    payment = find_payment_for_charge(refund.charge_id, refund.payment_intent_id)
    if payment is None:
        if refund.charge_id:
            _retry_if_payment_not_yet_recorded(gateway.charge(refund.charge_id))
        return "ignored"
    recorded = refunds.record_refund(payment, refund)
    if not recorded.created:
        return "already"
    if recorded.total_changed:
        _audit_refund(recorded.payment, event)
    refunds.queue_refund_email(recorded.refund)
    return "refunded"


def handle_charge_dispute_created(event: gateway.StripeEvent) -> str:
    dispute = event.dispute
    payment = find_payment_for_charge(dispute.charge_id, dispute.payment_intent_id) if dispute else None
    if dispute is None or payment is None:
        return "ignored"
    flag_dispute(payment, status=dispute.status, reason=dispute.reason, stripe_event_id=event.id)
    return "flagged"
