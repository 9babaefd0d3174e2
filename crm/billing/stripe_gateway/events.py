"""Webhook events and the invoices, charges and disputes they are about, in our terms.

The webhook handlers, the reconciliation job and the collection-failure rules read these frozen
values, never Stripe's objects: an event goes into the adapter once (`stripe_event`) and comes
out as a `StripeEvent` holding the facts of the object it is about.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crm.billing.stripe_gateway.client import _ts, field, get_client, id_of
from crm.billing.stripe_gateway.lists import _iterate
from crm.billing.stripe_gateway.payments import (
    RefundFacts,
    SubscriptionFacts,
    invoice_payment_intent_id,
    invoice_subscription_id,
    invoice_subscription_metadata,
    refund_facts,
    retrieve_charge,
    retrieve_invoice,
    retrieve_subscription,
    subscription_facts,
)

if TYPE_CHECKING:
    from crm.billing.stripe_gateway.client import StripeObject


@dataclass(frozen=True)
class InvoiceLine:
    """One line of an invoice: what it billed (a plan's price, or a one-off such as a donation)."""

    price_id: str | None
    product_id: str | None
    amount: int


@dataclass(frozen=True)
class InvoiceFacts:
    """A Stripe invoice in our terms: what it billed, for which subscription and period, and
    whether it was paid."""

    id: str
    paid: bool
    subscription_id: str | None
    #: The subscription's metadata (ours: membership_id, contact_id, kind) as the invoice saw it.
    subscription_metadata: dict[str, str]
    customer_id: str | None
    amount_paid: int
    amount_due: int
    currency: str
    paid_at: datetime | None
    charge_id: str | None
    #: The paying intent when the invoice came with its payments (`payment_intent_of` fetches it).
    payment_intent_id: str | None
    #: The subscription's first invoice (the join), not a renewal.
    opens_subscription: bool
    failure_message: str
    period_start: datetime | None
    period_end: datetime | None
    lines: tuple[InvoiceLine, ...]


def _stamp(value: Any) -> datetime | None:
    return _ts(value) if value not in (None, "", 0) else None


def _included_intent(invoice: StripeObject | dict[str, Any]) -> str | None:
    for row in field(field(invoice, "payments"), "data") or []:
        intent = id_of(field(field(row, "payment"), "payment_intent"))
        if intent:
            return intent
    return None


def invoice_facts(invoice: StripeObject | dict[str, Any]) -> InvoiceFacts:
    """The facts of an invoice object (from the API, a list or a webhook event)."""
    starts, ends, lines = [], [], []
    for line in field(field(invoice, "lines"), "data") or []:
        period = field(line, "period")
        if field(period, "end"):
            starts.append(int(field(period, "start") or 0))
            ends.append(int(field(period, "end")))
        details = field(field(line, "pricing"), "price_details")
        lines.append(
            InvoiceLine(
                price_id=id_of(field(details, "price")),
                product_id=id_of(field(details, "product")),
                amount=int(field(line, "amount") or 0),
            )
        )
    return InvoiceFacts(
        id=str(id_of(invoice) or ""),
        paid=field(invoice, "status") == "paid",
        subscription_id=invoice_subscription_id(invoice),
        subscription_metadata=invoice_subscription_metadata(invoice),
        customer_id=id_of(field(invoice, "customer")),
        amount_paid=int(field(invoice, "amount_paid") or 0),
        amount_due=int(field(invoice, "amount_due") or 0),
        currency=str(field(invoice, "currency") or "gbp"),
        paid_at=_stamp(field(field(invoice, "status_transitions"), "paid_at")),
        charge_id=id_of(field(invoice, "charge")),
        payment_intent_id=_included_intent(invoice),
        opens_subscription=field(invoice, "billing_reason") == "subscription_create",
        failure_message=str(field(field(invoice, "last_finalization_error"), "message") or ""),
        period_start=_ts(min(starts)) if ends else None,
        period_end=_ts(max(ends)) if ends else None,
        lines=tuple(lines),
    )


def invoice(invoice_id: str) -> InvoiceFacts:
    """The invoice as Stripe has it now (remembered per event), with its payments."""
    return invoice_facts(retrieve_invoice(invoice_id))


def payment_intent_of(found: InvoiceFacts) -> str | None:
    """The invoice's paying intent: the one it came with, else read from Stripe."""
    return found.payment_intent_id or invoice_payment_intent_id(retrieve_invoice(found.id))


def subscription(sub_id: str) -> SubscriptionFacts:
    """The subscription as Stripe has it now (remembered per event)."""
    return subscription_facts(retrieve_subscription(sub_id))


def list_invoices(created_gte: int) -> Iterator[InvoiceFacts]:
    for found in _iterate(
        "list invoices", get_client().v1.invoices.list, {"created": {"gte": int(created_gte)}, "limit": 100}
    ):
        yield invoice_facts(found)


def list_subscriptions(created_gte: int) -> Iterator[SubscriptionFacts]:
    """Every subscription created since then, cancelled ones included."""
    params = {"created": {"gte": int(created_gte)}, "status": "all", "limit": 100}
    for found in _iterate("list subscriptions", get_client().v1.subscriptions.list, params):
        yield subscription_facts(found)


@dataclass(frozen=True)
class ChargeFacts:
    """A charge in our terms: whose it is, what it paid and how much has been refunded."""

    id: str
    customer_id: str | None
    payment_intent_id: str | None
    amount_refunded: int


def charge(charge_id: str) -> ChargeFacts:
    """The charge as Stripe has it now (remembered per event)."""
    found = retrieve_charge(charge_id)
    return ChargeFacts(
        id=str(id_of(found) or charge_id),
        customer_id=id_of(field(found, "customer")),
        payment_intent_id=id_of(field(found, "payment_intent")),
        amount_refunded=int(field(found, "amount_refunded") or 0),
    )


@dataclass(frozen=True)
class DisputeFacts:
    """A dispute (chargeback) in our terms: which charge, and Stripe's status and reason words."""

    charge_id: str | None
    payment_intent_id: str | None
    status: str
    reason: str


@dataclass(frozen=True)
class StripeEvent:
    """One Stripe event in our terms: its id, type and time, and the facts of the object it is
    about (the one matching its type is set; the others are None)."""

    id: str
    type: str
    created: int
    #: The id of the object the event is about (a session, invoice, subscription, charge ...).
    object_id: str | None
    invoice: InvoiceFacts | None = None
    subscription: SubscriptionFacts | None = None
    refund: RefundFacts | None = None
    dispute: DisputeFacts | None = None
    #: A charge's or payment intent's event: the payment intent it concerns.
    payment_intent_id: str | None = None


def stripe_event(event: StripeObject | dict[str, Any]) -> StripeEvent:
    """The facts of an event as Stripe sent it (a verified delivery's JSON or a listed event)."""
    obj = field(field(event, "data"), "object")
    kind = str(field(event, "type") or "")
    facts: dict[str, Any] = {}
    if kind.startswith("invoice."):
        facts["invoice"] = invoice_facts(obj)
    elif kind.startswith("customer.subscription."):
        facts["subscription"] = subscription_facts(obj)
    elif kind.startswith("refund."):
        facts["refund"] = refund_facts(obj)
    elif kind.startswith("charge.dispute."):
        facts["dispute"] = DisputeFacts(
            charge_id=id_of(field(obj, "charge")),
            payment_intent_id=id_of(field(obj, "payment_intent")),
            status=str(field(obj, "status") or "needs_response"),
            reason=str(field(obj, "reason") or "unknown reason"),
        )
    elif kind.startswith("charge."):
        facts["payment_intent_id"] = id_of(field(obj, "payment_intent"))
    elif kind.startswith("payment_intent."):
        facts["payment_intent_id"] = id_of(obj)
    return StripeEvent(
        id=str(field(event, "id") or ""),
        type=kind,
        created=int(field(event, "created") or 0),
        object_id=id_of(obj),
        **facts,
    )
