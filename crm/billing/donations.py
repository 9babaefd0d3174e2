"""Donations given with a membership payment: one Stripe charge, two payment rows.

A join with an extra donation is one Checkout and one charge, but two things the charity reports
apart: the membership fee (Gift Aid only on an eligible plan) and the gift (always Gift Aid
eligible). The membership row keeps Stripe's natural keys (invoice, payment intent); the donation
row points at it (`part_of_id`, unique) and shares its charge, so the success page, the
checkout webhook and `invoice.paid`, in any order and however often, make one donation row. The
two amounts add up to what Stripe took.
"""

from __future__ import annotations

from sqlalchemy import select

from crm.billing import stripe_gateway as gateway
from crm.billing.models import Payment, PaymentKind
from crm.billing.services import apply_refund_total, insert_once
from crm.extensions import db


def split_amount(total: int, donation: int) -> tuple[int, int]:
    """(membership, donation) of what Stripe took; the donation never exceeds the total."""
    total = max(0, int(total))
    donation = max(0, min(int(donation or 0), total))
    return total - donation, donation


def donation_part_of(payment: Payment) -> Payment | None:
    return db.session.scalar(select(Payment).where(Payment.part_of_id == payment.id))


def main_payment_of(payment: Payment) -> Payment:
    """The payment that holds Stripe's ids (itself, or the membership payment a donation was part of)."""
    if payment.part_of_id is None:
        return payment
    return db.session.get(Payment, payment.part_of_id) or payment


def payment_intent_for(payment: Payment) -> str | None:
    """The Stripe payment intent that collected this payment (a donation part shares its main's)."""
    return payment.stripe_payment_intent_id or main_payment_of(payment).stripe_payment_intent_id


def record_donation_part(payment: Payment, *, total: int, donation: int) -> tuple[Payment | None, bool]:
    """Split `payment` (recorded for the whole of `total`) into membership and donation, once.

    Returns (the donation payment or None, created). A payment already split keeps its amounts.
    """
    existing = donation_part_of(payment)
    if existing is not None:
        if existing.stripe_charge_id is None and payment.stripe_charge_id:
            existing.stripe_charge_id = payment.stripe_charge_id
            db.session.flush()
        return existing, False
    membership_amount, donation_amount = split_amount(total, donation)
    if donation_amount <= 0 or payment.kind != PaymentKind.MEMBERSHIP:
        return None, False
    if payment.amount == total:
        payment.amount = membership_amount
    part = Payment(
        contact_id=payment.contact_id,
        membership_id=None,
        kind=PaymentKind.DONATION,
        amount=donation_amount,
        currency=payment.currency,
        status=payment.status,  # a collection that failed fails for both
        method=payment.method,
        stripe_charge_id=payment.stripe_charge_id,
        stripe_checkout_session_id=payment.stripe_checkout_session_id,
        paid_at=payment.paid_at,
        gift_aid_eligible=True,
        part_of_id=payment.id,
    )
    if not insert_once(part):  # another transaction split it first
        return donation_part_of(payment), False
    return part, True


def invoice_extras_amount(
    invoice: gateway.InvoiceFacts, plan_price_id: str | None, plan_product_id: str | None
) -> int:
    """What an invoice charged beyond the plan: the one-off lines Checkout adds to the first
    invoice of a subscription (our join form adds one, the donation)."""
    return sum(
        line.amount
        for line in invoice.lines
        if not (plan_price_id and line.price_id == plan_price_id)
        and not (plan_product_id and line.product_id == plan_product_id)
    )


def paid_for_by_session(session: gateway.CheckoutResult) -> int:
    """The donation a join Checkout Session carried (our metadata names it)."""
    try:
        return max(0, session.number("donation"))
    except ValueError:
        return 0


def refund_target(main: Payment, wanted: int | None) -> Payment:
    """The payment a Stripe refund of `main`'s charge gives back: the one its metadata names
    (`wanted`: a staff refund of the donation part), else the main payment."""
    if wanted and wanted != main.id:
        part = donation_part_of(main)
        if part is not None and part.id == wanted:
            return part
    return main


def apply_charge_refunds(main: Payment, charge_id: str, total_refunded: int) -> list[Payment]:
    """Share a split charge's refunded total between its membership and donation payments.

    Each refund goes to the payment its metadata names (whatever order the webhook and the
    staff request arrive in); one naming neither, e.g. made in Stripe's dashboard, goes to the
    membership first, then the donation. Returns the payments whose refunded total went up.
    """
    part = donation_part_of(main)
    if part is None:
        return [main] if apply_refund_total(main, total_refunded) else []
    named = {main.id: 0, part.id: 0}
    unnamed = 0
    for refund in gateway.list_charge_refunds(charge_id):
        if refund.payment_id in named:
            named[refund.payment_id] += refund.amount
        else:
            unnamed += refund.amount
    changed = []
    for payment in (main, part):
        own = named[payment.id]
        extra = min(unnamed, max(0, payment.amount - own))
        unnamed -= extra
        if apply_refund_total(payment, own + extra):
            changed.append(payment)
    return changed


# --- regular giving ------------------------------------------------------------------------------

#: Stripe's standard UK card fee (1.5% + 20p), which a donor may choose to cover.
CARD_FEE_PERCENT = 1.5
CARD_FEE_FIXED = 20


def card_fee_cover(amount: int) -> int:
    """What to add so that, after the card fee, the charity receives `amount`: the gross total is
    ceil((amount + 20p) / (1 - 1.5%)), and the cover is that minus `amount` (£10.00 -> 36p)."""
    gross = -(-(amount + CARD_FEE_FIXED) * 1000 // (1000 - int(CARD_FEE_PERCENT * 10)))
    return int(gross - amount)


def record_regular_gift_payment(invoice: gateway.InvoiceFacts, customer_contact_id: int | None) -> str:
    """`invoice.paid` for a regular donation (its own subscription, no membership): a donation
    payment per invoice, once (the invoice id is unique)."""
    from crm.billing.services import queue_receipt, record_stripe_payment
    from crm.core.types import utcnow

    sub_metadata = invoice.subscription_metadata
    if sub_metadata.get("kind") != "regular_donation":
        return "ignored"
    try:
        contact_id = int(sub_metadata.get("contact_id") or 0)
    except (TypeError, ValueError):
        return "ignored"
    if not contact_id or contact_id != customer_contact_id:
        return "ignored"  # not our metadata on our customer: not ours
    payment, created = record_stripe_payment(
        contact_id=contact_id,
        membership_id=None,
        kind=PaymentKind.DONATION,
        amount=invoice.amount_paid,
        currency=invoice.currency,
        paid_at=invoice.paid_at or utcnow(),
        invoice_id=invoice.id,
        payment_intent_id=gateway.payment_intent_of(invoice),
        gift_aid_eligible=True,
    )
    if created:
        queue_receipt(payment)
    return "donation" if created else "already"
