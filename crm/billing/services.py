"""Recording money: one payment row per paid invoice or payment intent, refunds and disputes.

Natural keys (stripe_invoice_id, stripe_payment_intent_id) are unique in the database, so a
webhook and the success page racing, or two deliveries of the same event, give one row: the
insert runs in a savepoint and the loser reads the winner's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from crm.billing import stripe_gateway as gateway
from crm.billing.models import Payment, PaymentKind, PaymentMethod, PaymentStatus
from crm.contacts.models import Contact
from crm.core.database import insert_once  # noqa: F401  (billing's callers import it from here)
from crm.core.money import format_money
from crm.core.types import utcnow
from crm.extensions import db


def find_stripe_payment(
    *, invoice_id: str | None = None, payment_intent_id: str | None = None
) -> Payment | None:
    conditions = []
    if invoice_id:
        conditions.append(Payment.stripe_invoice_id == invoice_id)
    if payment_intent_id:
        conditions.append(Payment.stripe_payment_intent_id == payment_intent_id)
    if not conditions:
        return None
    return db.session.scalar(select(Payment).where(or_(*conditions)).limit(1))


@dataclass(frozen=True)
class PaymentReferences:
    """The payment provider's ids for one payment; any may be unknown yet (events arrive in any
    order) or absent (money taken outside the provider's events, as the demo's)."""

    invoice_id: str | None = None
    payment_intent_id: str | None = None
    charge_id: str | None = None
    checkout_session_id: str | None = None


def record_online_payment(
    *,
    contact_id: int,
    membership_id: int | None,
    kind: str,
    amount: int,
    currency: str,
    paid_at: datetime,
    gift_aid_eligible: bool = False,
    method: str = PaymentMethod.CARD,
    failed: bool = False,
    failure_message: str = "",
    references: PaymentReferences | None = None,
) -> tuple[Payment, bool]:
    """Money the payment provider took (by card, or a Direct Debit collected the same way),
    written once: the one place such a payment row is made (the webhook, the success page, the
    demo). Returns (payment, created). The caller has looked for the payment already
    (`record_stripe_payment` does); the references are unique in the database, so when another
    transaction recorded it meanwhile, PostgreSQL gives its row and SQLite refuses the write
    (the caller rolls back and retries: `insert_once`). `failed`: a collection that failed
    before this was recorded (a Bacs Direct Debit returned early) is recorded failed."""
    references = references or PaymentReferences()
    payment = Payment(
        contact_id=contact_id,
        membership_id=membership_id,
        kind=kind,
        amount=amount,
        currency=currency,
        status=PaymentStatus.FAILED if failed else PaymentStatus.PAID,
        method=method,
        stripe_invoice_id=references.invoice_id,
        stripe_payment_intent_id=references.payment_intent_id,
        stripe_charge_id=references.charge_id,
        stripe_checkout_session_id=references.checkout_session_id,
        paid_at=paid_at,
        gift_aid_eligible=gift_aid_eligible,
        failure_message=failure_message[:2000],
    )
    if not insert_once(payment):  # another transaction recorded it first
        existing = find_stripe_payment(
            invoice_id=references.invoice_id, payment_intent_id=references.payment_intent_id
        )
        if existing is None:
            raise RuntimeError("payment conflict without a payment")
        return existing, False
    return payment, True


def record_stripe_payment(
    *,
    contact_id: int,
    membership_id: int | None,
    kind: str,
    amount: int,
    currency: str,
    paid_at: datetime,
    invoice_id: str | None = None,
    payment_intent_id: str | None = None,
    charge_id: str | None = None,
    checkout_session_id: str | None = None,
    gift_aid_eligible: bool = False,
    collection: gateway.Collection | None = None,
) -> tuple[Payment, bool]:
    """The payment for this invoice or payment intent, created once: (payment, created).

    The method (card or Direct Debit) is the one the charge used, read from Stripe as the row is
    made. A collection that has failed by then (a Bacs Direct Debit returned before this event
    arrived) is recorded failed, and a failed one whose charge has since succeeded (Stripe's
    retry) is paid again: the caller checks `payment.status` before giving membership.
    `collection`: read by the caller before it took any lock (`session_collection`).
    """
    existing = find_stripe_payment(invoice_id=invoice_id, payment_intent_id=payment_intent_id)
    if existing is not None:
        _fill_missing_ids(existing, invoice_id, payment_intent_id, charge_id, checkout_session_id)
        if existing.status == PaymentStatus.FAILED:  # the invoice's attempt now, else the one recorded
            collection = collection or collection_for(
                invoice_id, payment_intent_id or existing.stripe_payment_intent_id
            )
            if collection is not None and not collection.failed:
                existing.stripe_payment_intent_id = collection.payment_intent_id
                existing.stripe_charge_id = collection.charge_id or existing.stripe_charge_id
                set_collected(existing, paid=True)
        return existing, False
    collection = collection or collection_for(invoice_id, payment_intent_id)
    return record_online_payment(
        contact_id=contact_id,
        membership_id=membership_id,
        kind=kind,
        amount=amount,
        currency=currency,
        paid_at=paid_at,
        gift_aid_eligible=gift_aid_eligible,
        method=collection.method if collection is not None else PaymentMethod.CARD,
        failed=collection is not None and collection.failed,
        failure_message=collection.failure_message if collection is not None else "",
        references=PaymentReferences(
            invoice_id=invoice_id,
            payment_intent_id=payment_intent_id or (collection.payment_intent_id if collection else None),
            charge_id=charge_id or (collection.charge_id if collection else None),
            checkout_session_id=checkout_session_id,
        ),
    )


def collection_for(invoice_id: str | None, payment_intent_id: str | None) -> gateway.Collection | None:
    """How Stripe collected this invoice or payment intent (None when it names no payment intent)."""
    if not payment_intent_id and invoice_id:
        payment_intent_id = gateway.payment_intent_of(gateway.invoice(invoice_id))
    return gateway.collection_of(payment_intent_id) if payment_intent_id else None


def session_collection(session: gateway.CheckoutResult) -> gateway.Collection | None:
    """How a paid Checkout Session was collected (its payment intent's, or its subscription's first
    invoice's), when no payment records it yet. Read before any row lock (on SQLite a lock is the
    database's write lock)."""
    if not session.collected:
        return None
    invoice_id, intent_id = session.invoice_id, session.payment_intent_id
    if find_stripe_payment(invoice_id=invoice_id, payment_intent_id=intent_id) is not None:
        return None  # recorded already (the other of success page and webhook): nothing to ask
    return collection_for(invoice_id, intent_id)


def set_collected(payment: Payment, *, paid: bool, message: str = "") -> bool:
    """Mark a Stripe payment (and the donation collected with it) paid or failed; True when it
    changed. Only paid and failed rows move: a refunded payment keeps its refund."""
    rows = [payment, *db.session.scalars(select(Payment).where(Payment.part_of_id == payment.id))]
    changed = False
    for row in rows:
        if paid and row.status == PaymentStatus.FAILED:
            row.status = PaymentStatus.PAID
            changed = True
        elif not paid and row.status == PaymentStatus.PAID:
            row.status = PaymentStatus.FAILED
            row.failure_message = message[:2000]
            changed = True
    db.session.flush()
    return changed


def _fill_missing_ids(
    payment: Payment,
    invoice_id: str | None,
    payment_intent_id: str | None,
    charge_id: str | None,
    checkout_session_id: str | None,
) -> None:
    """Events arrive in any order; each may know ids the other did not."""
    if invoice_id and not payment.stripe_invoice_id:
        payment.stripe_invoice_id = invoice_id
    if payment_intent_id and not payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = payment_intent_id
    if charge_id and not payment.stripe_charge_id:
        payment.stripe_charge_id = charge_id
    if checkout_session_id and not payment.stripe_checkout_session_id:
        payment.stripe_checkout_session_id = checkout_session_id
    db.session.flush()


def find_payment_for_charge(charge_id: str | None, payment_intent_id: str | None) -> Payment | None:
    conditions = []
    if charge_id:
        conditions.append(Payment.stripe_charge_id == charge_id)
    if payment_intent_id:
        conditions.append(Payment.stripe_payment_intent_id == payment_intent_id)
    if not conditions:
        return None
    # A donation given with a membership payment shares its charge: the membership payment is
    # the one that holds Stripe's ids (crm/billing/donations.py shares refunds between them).
    return db.session.scalar(
        select(Payment).where(or_(*conditions), Payment.part_of_id.is_(None)).order_by(Payment.id).limit(1)
    )


def apply_refund_total(payment: Payment, amount_refunded: int) -> bool:
    """Stripe reports the total refunded so far: set it (never lower it). True when it changed."""
    amount_refunded = max(0, min(int(amount_refunded), payment.amount))
    if amount_refunded <= payment.amount_refunded:
        return False
    payment.amount_refunded = amount_refunded
    payment.status = (
        PaymentStatus.REFUNDED if amount_refunded >= payment.amount else PaymentStatus.PARTLY_REFUNDED
    )
    db.session.flush()
    return True


def flag_dispute(payment: Payment, *, status: str, reason: str, stripe_event_id: str) -> None:
    """A chargeback: the payment is flagged for staff and the audit trail says so."""
    from crm.audit.services import record

    if payment.disputed_at is None:
        payment.disputed_at = utcnow()
    payment.dispute_status = (status or "needs_response")[:40]
    db.session.flush()
    record(
        "payment.dispute",
        target_type="payment",
        target_id=payment.id,
        contact_id=payment.contact_id,
        actor_label="stripe",
        detail=f"dispute {payment.dispute_status}: {reason} (event {stripe_event_id})",
    )


def record_failed_payment(
    *, contact_id: int, membership_id: int | None, amount: int, currency: str, invoice_id: str, message: str
) -> None:
    """A failed renewal is shown to staff; it is not a payment row (the paid one may follow)."""
    from crm.audit.services import record

    record(
        "payment.failed",
        target_type="membership",
        target_id=membership_id or "",
        contact_id=contact_id,
        actor_label="stripe",
        detail=f"{format_money(amount, currency)} for invoice {invoice_id} failed: {message}"[:2000],
    )


def queue_receipt(payment: Payment) -> Any:
    """One receipt email per payment, whatever retries happen (dedupe key)."""
    from crm.billing.receipt_links import receipt_url
    from crm.email.services import queue_email

    contact = db.session.get(Contact, payment.contact_id)
    if contact is None or contact.erased_at is not None:
        return None
    plan_name = plan_name_es = ""
    if payment.membership_id:
        from crm.memberships.models import Membership

        membership = db.session.get(Membership, payment.membership_id)
        plan_name = membership.plan.name if membership else ""
        plan_name_es = membership.plan.name_es if membership else ""
    # A donation given with the membership payment is its own line on the same receipt.
    donation = db.session.scalar(select(Payment).where(Payment.part_of_id == payment.id))
    return queue_email(
        contact.email,
        "receipt",
        {
            "payment": payment,
            "contact": contact,
            "plan_name": plan_name,
            "plan_name_es": plan_name_es,
            "donation": donation,
            "receipt_url": receipt_url(payment),
            # A member's account is made as the membership is paid; a donor has none.
            "has_account": contact.user is not None or payment.kind == PaymentKind.MEMBERSHIP,
        },
        contact_id=contact.id,
        dedupe_key=f"receipt:{payment.id}",
    )
