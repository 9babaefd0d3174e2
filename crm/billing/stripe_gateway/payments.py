"""Subscriptions, invoices, charges and refunds: reads (remembered per event) and changes."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as field_
from datetime import datetime
from typing import TYPE_CHECKING

from crm.billing.stripe_gateway.client import (
    _call,
    _opts,
    _plain,
    _remembered,
    _ts,
    field,
    get_client,
    id_of,
)
from crm.billing.stripe_gateway.lists import _iterate

if TYPE_CHECKING:
    from crm.billing.stripe_gateway.client import StripeObject


def retrieve_subscription(sub_id: str) -> StripeObject:
    return _remembered("subscription", sub_id, lambda: _call(
        "retrieve subscription", get_client().v1.subscriptions.retrieve, sub_id))  # fmt: skip


def retrieve_invoice(invoice_id: str) -> StripeObject:
    """The invoice with its `payments` included (they hold the payment intent ids)."""
    return _remembered("invoice", invoice_id, lambda: _call(
        "retrieve invoice", get_client().v1.invoices.retrieve, invoice_id, {"expand": ["payments"]}))  # fmt: skip


def retrieve_charge(charge_id: str) -> StripeObject:
    return _remembered("charge", charge_id, lambda: _call(
        "retrieve charge", get_client().v1.charges.retrieve, charge_id))  # fmt: skip


@dataclass(frozen=True)
class ChargeRefund:
    """One refund of a charge, in our terms: which of our payments it names (staff refunds put
    `payment_id` in the metadata; a refund made in Stripe's dashboard names none)."""

    id: str
    amount: int
    payment_id: int | None


def list_charge_refunds(charge_id: str) -> list[ChargeRefund]:
    """The charge's refunds that succeeded or are pending (failed and cancelled ones gave nothing back)."""
    return _remembered("charge_refunds", charge_id, lambda: _charge_refunds(charge_id))  # type: ignore[return-value]  # remembered values are typed StripeObject


def _charge_refunds(charge_id: str) -> list[ChargeRefund]:
    found = []
    for refund in _iterate("list refunds", get_client().v1.refunds.list, {"charge": charge_id, "limit": 100}):
        facts = refund_facts(refund)
        if facts.gave_money_back:
            found.append(ChargeRefund(id=facts.id, amount=facts.amount, payment_id=facts.payment_id))
    return found


@dataclass(frozen=True)
class CardExpiry:
    """A card's last valid month (cards work to the end of it)."""

    month: int
    year: int
    last4: str


def default_card_expiry(sub_id: str) -> CardExpiry | None:
    """The expiry of the card a subscription will charge next (its own default payment method, else
    the customer's); None when that is not a card (Direct Debit) or none is known."""
    sub = _call(
        "retrieve subscription",
        get_client().v1.subscriptions.retrieve,
        sub_id,
        {"expand": ["default_payment_method", "customer.invoice_settings.default_payment_method"]},
    )
    method = field(sub, "default_payment_method")
    if not method or isinstance(method, str):
        method = field(field(field(sub, "customer"), "invoice_settings"), "default_payment_method")
    if not method or isinstance(method, str) or field(method, "type") != "card":
        return None
    card = field(method, "card")
    try:
        return CardExpiry(int(card["exp_month"]), int(card["exp_year"]), str(field(card, "last4") or ""))
    except (TypeError, KeyError, ValueError):
        return None


def retrieve_payment_intent(payment_intent_id: str) -> StripeObject:
    return _call("retrieve payment intent", get_client().v1.payment_intents.retrieve, payment_intent_id)


#: Stripe's payment method types, in our words (crm.billing.models.PaymentMethod).
_METHODS = {"card": "card", "bacs_debit": "direct_debit"}


@dataclass(frozen=True)
class Collection:
    """How a payment intent collected its money, in our terms: `method` ("card", "direct_debit"
    or "other"), its latest charge, and whether that charge has failed (a Bacs Direct Debit can
    fail days after its invoice looked paid)."""

    payment_intent_id: str
    charge_id: str | None
    method: str
    failed: bool
    failure_message: str


def collection_of(payment_intent_id: str) -> Collection:
    """The payment intent's latest charge, read now (remembered per event): its
    `payment_method_details.type` is the method actually used; the intent's
    `payment_method_types` only lists what was offered."""
    intent = _remembered("payment_intent", payment_intent_id, lambda: _call(
        "retrieve payment intent", get_client().v1.payment_intents.retrieve, payment_intent_id,
        {"expand": ["latest_charge"]}))  # fmt: skip
    charge = field(intent, "latest_charge")
    if isinstance(charge, str):
        charge = retrieve_charge(charge)
    used = field(field(charge, "payment_method_details"), "type")
    if not used:  # no charge yet: the one type the intent allows, if it allows one
        offered = list(field(intent, "payment_method_types") or [])
        used = offered[0] if len(offered) == 1 else "card"
    failed = field(charge, "status") == "failed"
    message = field(charge, "failure_message") or field(field(intent, "last_payment_error"), "message")
    return Collection(
        payment_intent_id=payment_intent_id,
        charge_id=id_of(charge),
        method=_METHODS.get(str(used), "other"),
        failed=failed,
        failure_message=str(message or "") if failed else "",
    )


def subscription_period(sub: StripeObject) -> tuple[datetime, datetime]:
    """(start, end) of the current period, from the first item (endive keeps it there)."""
    item = sub["items"]["data"][0]
    return _ts(item["current_period_start"]), _ts(item["current_period_end"])


@dataclass(frozen=True)
class SubscriptionFacts:
    """A Stripe subscription in our terms: its state, its current period and what it bills."""

    id: str
    #: Stripe's status: active, trialing, past_due, unpaid, canceled, incomplete, incomplete_expired.
    status: str
    period_start: datetime | None
    period_end: datetime | None
    latest_invoice_id: str | None
    #: (price id, product id) of each item: billing matches them against our plans.
    prices: tuple[tuple[str | None, str | None], ...]
    #: Our metadata on the subscription (membership_id, contact_id, kind).
    metadata: dict[str, str] = field_(default_factory=dict)
    #: The subscriber asked for it to stop at the period end (auto-renew off).
    cancel_at_period_end: bool = False

    @property
    def ended(self) -> bool:
        """Stripe has given up on it: a membership it bills must not keep running."""
        return self.status in ("canceled", "unpaid", "incomplete_expired")

    @property
    def past_due(self) -> bool:
        """A renewal failed (or was returned after it looked paid); Stripe is retrying."""
        return self.status == "past_due"

    @property
    def running(self) -> bool:
        return self.status in ("active", "trialing")


def subscription_facts(sub: StripeObject | dict[str, object]) -> SubscriptionFacts:
    """The facts of a Stripe subscription object (period from its first item, as endive keeps it)."""
    items = list(field(field(sub, "items"), "data") or [])
    start = field(items[0], "current_period_start") if items else None
    end = field(items[0], "current_period_end") if items else None
    prices = tuple(
        (id_of(field(item, "price")), id_of(field(field(item, "price"), "product"))) for item in items
    )
    return SubscriptionFacts(
        id=str(id_of(sub) or ""),
        status=str(field(sub, "status") or ""),
        period_start=_ts(start) if start else None,
        period_end=_ts(end) if end else None,
        latest_invoice_id=id_of(field(sub, "latest_invoice")),
        prices=prices,
        metadata={str(k): str(v) for k, v in _plain(field(sub, "metadata")).items()},
        cancel_at_period_end=bool(field(sub, "cancel_at_period_end")),
    )


def subscription_price_id(sub: StripeObject) -> str | None:
    items = sub["items"]["data"]
    if not items:
        return None
    price = items[0]["price"]
    return str(price if isinstance(price, str) else price["id"])


def invoice_subscription_id(invoice: StripeObject | dict[str, object]) -> str | None:
    """The subscription an invoice bills, from `parent.subscription_details.subscription`."""
    details = field(field(invoice, "parent"), "subscription_details")
    return id_of(field(details, "subscription"))


def invoice_subscription_metadata(invoice: StripeObject | dict[str, object]) -> dict[str, str]:
    """The subscription's metadata as snapshotted on the invoice (empty when none)."""
    details = field(field(invoice, "parent"), "subscription_details")
    return {str(k): str(v) for k, v in _plain(field(details, "metadata")).items()}


def invoice_payment_intent_id(invoice: StripeObject) -> str | None:
    """The paid (or latest) payment intent of an invoice; fetches `payments` when not included."""
    payments = field(invoice, "payments")
    if payments is None:
        payments = field(retrieve_invoice(str(invoice["id"])), "payments")
    rows = list(field(payments, "data") or [])
    rows.sort(key=lambda row: (field(row, "status") != "paid", -int(field(row, "created") or 0)))
    for row in rows:
        intent = field(field(row, "payment"), "payment_intent")
        if intent:
            return id_of(intent)
    return None


def set_cancel_at_period_end(sub_id: str, flag: bool, *, idempotency_key: str) -> StripeObject:
    return _call(
        "update subscription",
        get_client().v1.subscriptions.update,
        sub_id,
        {"cancel_at_period_end": flag},
        _opts(idempotency_key),
    )


def cancel_subscription_now(sub_id: str, *, idempotency_key: str) -> StripeObject:
    return _call(
        "cancel subscription",
        get_client().v1.subscriptions.cancel,
        sub_id,
        None,
        _opts(idempotency_key),
    )


def change_subscription_price(sub_id: str, price_id: str, *, idempotency_key: str) -> StripeObject:
    """Move the subscription to another price from the next period, without proration."""
    sub = retrieve_subscription(sub_id)
    item_id = sub["items"]["data"][0]["id"]
    return _call(
        "change subscription price",
        get_client().v1.subscriptions.update,
        sub_id,
        {"items": [{"id": item_id, "price": price_id}], "proration_behavior": "none"},
        _opts(idempotency_key),
    )


@dataclass(frozen=True)
class RefundFacts:
    """A Stripe refund in our terms: what came back, off which charge, and the story a staff
    refund put in its metadata (`payment_id`, `reason`, `staff_user_id`; absent for a refund
    made in Stripe's dashboard)."""

    id: str
    amount: int
    currency: str
    #: Stripe's refund status: succeeded, pending, requires_action, failed or canceled.
    stripe_status: str
    charge_id: str | None
    payment_intent_id: str | None
    #: Stripe's own reason code (duplicate, fraudulent, requested_by_customer) or "".
    stripe_reason: str
    #: Our payment the refund names (a staff refund of a donation part names the part).
    payment_id: int | None
    #: What the staff member typed, "" for others.
    staff_reason: str
    staff_user_id: int | None

    @property
    def gave_money_back(self) -> bool:
        """Failed and cancelled refunds gave nothing back."""
        return self.stripe_status not in ("failed", "canceled")

    @property
    def settling(self) -> bool:
        """Succeeded, or pending: the money is back or on its way (not waiting on the customer)."""
        return self.stripe_status in ("succeeded", "pending")


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value or 0)) or None
    except (TypeError, ValueError):
        return None


def refund_facts(refund: StripeObject | dict[str, object]) -> RefundFacts:
    """The facts of a Stripe refund object (from the API, a list or a webhook event)."""
    metadata = _plain(field(refund, "metadata"))
    return RefundFacts(
        id=str(id_of(refund) or ""),
        amount=int(field(refund, "amount") or 0),
        currency=str(field(refund, "currency") or "gbp"),
        stripe_status=str(field(refund, "status") or ""),
        charge_id=id_of(field(refund, "charge")),
        payment_intent_id=id_of(field(refund, "payment_intent")),
        stripe_reason=str(field(refund, "reason") or ""),
        payment_id=_int_or_none(metadata.get("payment_id")),
        staff_reason=str(metadata.get("reason") or ""),
        staff_user_id=_int_or_none(metadata.get("staff_user_id")),
    )


def create_refund(
    *, payment_intent_id: str, amount: int, idempotency_key: str, metadata: dict[str, str]
) -> RefundFacts:
    """Refund `amount` minor units of a payment intent's charge."""
    if amount <= 0:
        raise ValueError("refund amount must be positive")
    return refund_facts(
        _call(
            "create refund",
            get_client().v1.refunds.create,
            {"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
            _opts(idempotency_key),
        )
    )
