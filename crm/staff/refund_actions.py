"""Staff refunds: through Stripe first (nothing is written when Stripe refuses), then recorded
once by `crm.billing.refunds.record_refund`, which the webhook and reconciliation also use."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from crm.audit.services import record
from crm.billing import stripe_gateway as gateway
from crm.billing.models import Payment, PaymentStatus, Refund
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import CURRENT_STATUSES, Membership
from crm.staff.membership_changes import _lifecycle_call
from crm.staff.services import (
    StaffActionError,
    membership_snapshot,
)


def refund_payment(
    payment: Payment, *, amount: int | None, reason: str, cancel_membership_too: bool, actor: Any
) -> Refund:
    """Refund through Stripe, then record it once (the webhook matches on the Stripe refund id)."""
    if payment.status == PaymentStatus.REFUNDED or (
        payment.amount_refunded >= payment.amount and payment.amount > 0
    ):
        raise StaffActionError("This payment has already been refunded in full.")
    from crm.billing import refunds
    from crm.billing.donations import payment_intent_for

    payment_intent_id = payment_intent_for(payment)  # a donation given at join shares its charge
    if not payment_intent_id:
        raise StaffActionError(
            "This payment was not taken through Stripe (offline payment): refund it by cheque or bank transfer."
        )
    if payment.status not in (PaymentStatus.PAID, PaymentStatus.PARTLY_REFUNDED):
        raise StaffActionError("Only a paid payment can be refunded.")
    left = payment.amount - payment.amount_refunded
    amount = left if amount is None else amount
    if amount <= 0:
        raise StaffActionError("The refund must be more than £0.")
    if amount > left:
        from crm.core.money import format_money

        raise StaffActionError(
            f"You can refund at most {format_money(left, payment.currency)} on this payment."
        )
    before: dict[str, Any] = {"status": payment.status, "amount_refunded": payment.amount_refunded}
    if cancel_membership_too and amount >= left:
        _stop_renewing_before_refund(payment, gateway)
    try:
        stripe_refund = gateway.create_refund(
            payment_intent_id=payment_intent_id,
            amount=amount,
            idempotency_key=f"staff-refund-{payment.id}-{payment.amount_refunded}-{amount}",
            metadata=refunds.staff_refund_metadata(payment, reason=reason, actor=actor),
        )
    except gateway.GatewayError as error:
        raise StaffActionError(f"Stripe did not make the refund: {error.user_message}") from error
    refund = refunds.record_refund(
        payment, stripe_refund, reason=reason, actor_id=getattr(actor, "id", None)
    ).refund
    refunds.queue_refund_email(refund)
    after: dict[str, Any] = {
        "status": payment.status,
        "amount_refunded": payment.amount_refunded,
        "refund": amount,
    }
    if cancel_membership_too and payment.status == PaymentStatus.REFUNDED and payment.membership_id:
        membership = db.session.get(Membership, payment.membership_id)
        if membership is not None and membership.status in CURRENT_STATUSES:
            # Part of the same action, so the same audit row shows the membership before and after.
            before["membership"] = membership_snapshot(membership)
            _lifecycle_call(
                lambda: lifecycle.cancel_now(membership, actor=actor, reason="payment refunded in full")
            )
            after["membership"] = membership_snapshot(membership)
    record(
        "payment.refund",
        target_type="payment",
        target_id=payment.id,
        contact_id=payment.contact_id,
        before=before,
        after=after,
        detail=reason,
        actor=actor,
    )
    return refund


def _stop_renewing_before_refund(payment: Payment, gateway: ModuleType) -> None:
    """A full refund that ends the membership must also stop Stripe charging again: cancel the
    subscription first, so a Stripe error leaves everything as it was."""
    membership = db.session.get(Membership, payment.membership_id) if payment.membership_id else None
    if (
        membership is None
        or membership.status not in CURRENT_STATUSES
        or not membership.stripe_subscription_id
    ):
        return
    try:
        gateway.cancel_subscription_now(
            membership.stripe_subscription_id,
            idempotency_key=f"staff-refund-cancel-{membership.id}-{membership.stripe_subscription_id}",
        )
    except gateway.GatewayError as error:
        raise StaffActionError(
            f"Stripe did not cancel the subscription, so nothing was refunded: {error.user_message}"
        ) from error
