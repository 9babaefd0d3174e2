"""Payments, refunds, Gift Aid claims and the Stripe events already processed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.types import UTCDateTime, utcnow
from crm.extensions import Model

if TYPE_CHECKING:
    from crm.accounts.models import User
    from crm.contacts.models import Contact


class PaymentStatus(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTLY_REFUNDED = "partly_refunded"


class PaymentMethod(StrEnum):
    CARD = "card"
    #: Bacs Direct Debit (Stripe's `bacs_debit`): collected days after Checkout, and can still fail then.
    DIRECT_DEBIT = "direct_debit"
    BANK_TRANSFER = "bank_transfer"
    CHEQUE = "cheque"
    CASH = "cash"
    OTHER = "other"


class PaymentKind(StrEnum):
    """What a payment is for: reported apart (income, Gift Aid, receipts)."""

    MEMBERSHIP = "membership"
    DONATION = "donation"
    EVENT = "event"


PAYMENT_STATUSES = tuple(PaymentStatus)
PAYMENT_METHODS = tuple(PaymentMethod)
#: How each method reads, in the reader's language: the one list of these words (account page,
#: receipts and their emails, the data download, staff pages, filters and exports).
PAYMENT_METHOD_WORDS: dict[str, str] = {
    PaymentMethod.CARD: _l("Card"),
    PaymentMethod.DIRECT_DEBIT: _l("Direct Debit"),
    PaymentMethod.BANK_TRANSFER: _l("Bank transfer"),
    PaymentMethod.CHEQUE: _l("Cheque"),
    PaymentMethod.CASH: _l("Cash"),
    PaymentMethod.OTHER: _l("Other"),
}


def payment_method_label(method: str | None) -> str:
    """`direct_debit` as a person reads it ("Direct Debit", "Domiciliación bancaria")."""
    return str(PAYMENT_METHOD_WORDS.get(method or "", PAYMENT_METHOD_WORDS[PaymentMethod.OTHER]))


#: How staff read a payment's status and what it is for (the staff area is in English).
PAYMENT_STATUS_WORDS: dict[str, str] = {
    PaymentStatus.PAID: "Paid",
    PaymentStatus.FAILED: "Failed",
    PaymentStatus.REFUNDED: "Refunded",
    PaymentStatus.PARTLY_REFUNDED: "Partly refunded",
}
PAYMENT_KIND_WORDS: dict[str, str] = {
    PaymentKind.MEMBERSHIP: "Membership",
    PaymentKind.DONATION: "Donation",
    PaymentKind.EVENT: "Event booking",
}


def payment_status_name(code: str) -> str:
    """`partly_refunded` as staff read it (`payment_status` in templates)."""
    return PAYMENT_STATUS_WORDS.get(code, code)


def payment_kind_name(code: str) -> str:
    """`event` as staff read it (`payment_kind` in templates)."""
    return PAYMENT_KIND_WORDS.get(code, code)


#: The one list of ways staff record money received outside Stripe, with the words the form
#: shows: the staff form offers them, and the lifecycle and staff services accept only these.
OFFLINE_PAYMENT_METHODS: dict[PaymentMethod, str] = {
    PaymentMethod.CHEQUE: "Cheque",
    PaymentMethod.BANK_TRANSFER: "Bank transfer",
    PaymentMethod.CASH: "Cash",
    PaymentMethod.OTHER: "Other",
}


class Payment(Model):
    """Money received (or a failed attempt). Amounts are integer minor units."""

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"), index=True)
    #: membership or donation
    kind: Mapped[str] = mapped_column(String(20), default="membership")
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="gbp")
    status: Mapped[str] = mapped_column(String(20), default=PaymentStatus.PAID, index=True)
    method: Mapped[str] = mapped_column(String(20), default="card")
    #: Cheque number, bank reference...
    reference: Mapped[str] = mapped_column(String(100), default="")
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    amount_refunded: Mapped[int] = mapped_column(default=0)
    gift_aid_eligible: Mapped[bool] = mapped_column(default=False)
    gift_aid_claim_id: Mapped[int | None] = mapped_column(ForeignKey("gift_aid_claim.id"))
    disputed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispute_status: Mapped[str | None] = mapped_column(String(40))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    failure_message: Mapped[str] = mapped_column(Text, default="")
    #: A donation given with a membership payment (one Stripe charge): the membership payment it
    #: was collected with. Unique, so a redelivered event cannot record the donation twice.
    part_of_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    contact: Mapped[Contact] = relationship()
    refunds: Mapped[list[Refund]] = relationship(back_populates="payment", order_by="Refund.id")

    @property
    def refundable(self) -> int:
        return (
            self.amount - self.amount_refunded
            if self.status in (PaymentStatus.PAID, PaymentStatus.PARTLY_REFUNDED)
            else 0
        )


#: Income by month and the failing-payments work list read payments by status and date.
Index("ix_payment_status_paid_at", Payment.status, Payment.paid_at)
Index("ix_payment_status_created_at", Payment.status, Payment.created_at)


class Refund(Model):
    __tablename__ = "refund"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    amount: Mapped[int]
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[Payment] = relationship(back_populates="refunds")
    #: The staff member who made it (None: made in Stripe's dashboard).
    created_by: Mapped[User | None] = relationship()


class GiftAidClaim(Model):
    """A claim made to HMRC; the payments it covers point at it, so none is claimed twice."""

    __tablename__ = "gift_aid_claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_from: Mapped[datetime] = mapped_column(UTCDateTime())
    period_to: Mapped[datetime] = mapped_column(UTCDateTime())
    total_amount: Mapped[int] = mapped_column(default=0)
    payment_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProcessedStripeEvent(Model):
    """A Stripe event id, once processed; a redelivery finds it here and does nothing."""

    __tablename__ = "processed_stripe_event"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    #: Stripe's `created` (Unix seconds).
    created: Mapped[int]
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
