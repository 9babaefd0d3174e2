"""Customers, Checkout Sessions and the billing portal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm.billing.stripe_gateway.client import StripeObject
    from crm.contacts.models import Contact

from crm.billing.stripe_gateway.client import (
    CheckoutSession,
    _call,
    _key_for,
    _opts,
    _plain,
    _remembered,
    _ts,
    field,
    get_client,
    id_of,
)
from crm.billing.stripe_gateway.payments import SubscriptionFacts, subscription_facts


def ensure_customer(contact: Contact) -> str:
    """The contact's Stripe Customer id, created (with the contact id in metadata) when missing."""
    if contact.stripe_customer_id:
        return contact.stripe_customer_id
    params: dict[str, Any] = {
        "email": contact.email,
        "metadata": {"contact_id": str(contact.id)},
    }
    name = contact.full_name
    if name:
        params["name"] = name
    client = get_client()
    customer = _call(
        "create customer",
        client.v1.customers.create,
        params,
        _opts(_key_for(f"customer-{contact.id}", params)),
    )
    # Not flushed here: the caller's next flush or commit writes it, so no write transaction is
    # opened between this Stripe call and the next one.
    contact.stripe_customer_id = customer.id
    return str(customer.id)


def update_customer_name(contact: Contact) -> None:
    """Keep the Stripe Customer's name in step with a contact whose join details were corrected."""
    if not contact.stripe_customer_id:
        return
    params: dict[str, Any] = {"name": contact.full_name or ""}
    _call(
        "update customer",
        get_client().v1.customers.update,
        contact.stripe_customer_id,
        params,
        _opts(_key_for(f"customer-name-{contact.id}", params)),
    )


def create_checkout_session(
    *,
    mode: str,
    customer_id: str,
    line_items: list[dict[str, Any]],
    metadata: dict[str, str],
    subscription_metadata: dict[str, str] | None,
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
    payment_intent_metadata: dict[str, str] | None = None,
    payment_methods: tuple[str, ...] = (),
) -> CheckoutSession:
    """A hosted Checkout Session; `mode` is "subscription" or "payment"; `payment_methods`
    (e.g. ("card", "bacs_debit")) when not Stripe's default."""
    if mode not in ("subscription", "payment"):
        raise ValueError(f"unknown checkout mode {mode!r}")
    params: dict[str, Any] = {
        "mode": mode,
        "customer": customer_id,
        "line_items": line_items,
        "metadata": metadata,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if mode == "subscription" and subscription_metadata:
        params["subscription_data"] = {"metadata": subscription_metadata}
    if mode == "payment" and payment_intent_metadata:
        params["payment_intent_data"] = {"metadata": payment_intent_metadata}
    if payment_methods:
        params["payment_method_types"] = list(payment_methods)
    session = _call(
        "create checkout session",
        get_client().v1.checkout.sessions.create,
        params,
        _opts(idempotency_key),
    )
    return CheckoutSession(id=str(session.id), url=str(session.url or ""))


#: Session fields expanded on retrieval; `line_items.data.price.product` is four levels, Stripe's limit.
_SESSION_EXPAND = ["subscription", "payment_intent", "invoice", "line_items.data.price.product"]


def create_booking_checkout_session(
    *,
    customer_id: str,
    description: str,
    unit_amount: int,
    quantity: int,
    currency: str,
    metadata: dict[str, str],
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
) -> CheckoutSession:
    """A payment-mode Checkout Session for an event booking (one line: the places)."""
    line = {"price_data": {"currency": currency, "unit_amount": unit_amount, "product_data": {"name": description}},
            "quantity": quantity}  # fmt: skip
    return create_checkout_session(mode="payment", customer_id=customer_id, line_items=[line], metadata=metadata,
                                   subscription_metadata=None, payment_intent_metadata=metadata,
                                   success_url=success_url, cancel_url=cancel_url,
                                   idempotency_key=idempotency_key)  # fmt: skip


def retrieve_checkout_session(session_id: str) -> StripeObject:
    """The session with its subscription, payment intent and line items (with their prices and
    products) expanded (ids stay at `.id`)."""
    return _remembered("checkout_session", session_id, lambda: _call(
        "retrieve checkout session", get_client().v1.checkout.sessions.retrieve, session_id,
        {"expand": _SESSION_EXPAND}))  # fmt: skip


@dataclass(frozen=True)
class PaidLine:
    """One line item of a Checkout Session, in our terms: what was bought and for how much."""

    price_id: str | None
    product_id: str | None
    #: The `crm_line` metadata we put on the products we create inline ("donation", "renewal").
    line_kind: str
    description: str
    amount: int
    unit_amount: int
    quantity: int
    currency: str
    recurring: bool
    #: The `crm_sig` metadata: our signature of the line's price, when we made it inline.
    signature: str = ""


def checkout_lines(session: CheckoutResult | StripeObject) -> list[PaidLine]:
    """The session's own line items (fetched when the session came without them)."""
    if isinstance(session, CheckoutResult):
        if session.lines is not None:
            return list(session.lines)
        items = None
    else:
        items = field(session, "line_items")
    if items is None:
        items = _call(
            "list checkout line items",
            get_client().v1.checkout.sessions.line_items.list,
            str(session.id if isinstance(session, CheckoutResult) else session["id"]),
            {"limit": 100, "expand": ["data.price.product"]},
        )
    return _paid_lines(items)


def _paid_lines(items: Any) -> list[PaidLine]:
    lines = []
    for row in field(items, "data") or []:
        price = field(row, "price")
        product = field(price, "product")
        metadata = field(product, "metadata") or {}
        lines.append(
            PaidLine(
                price_id=id_of(price),
                product_id=id_of(product),
                line_kind=str(field(metadata, "crm_line") or ""),
                signature=str(field(metadata, "crm_sig") or ""),
                description=str(field(row, "description") or ""),
                amount=int(field(row, "amount_total") or 0),
                unit_amount=int(field(price, "unit_amount") or 0),
                quantity=int(field(row, "quantity") or 0),
                currency=str(field(row, "currency") or field(price, "currency") or "").lower(),
                recurring=field(price, "recurring") is not None,
            )
        )
    return lines


@dataclass(frozen=True)
class CheckoutResult:
    """A Checkout Session in our terms, what join, events and the webhook's checkout handlers
    read instead of Stripe's object. `metadata` is our own (what we put on the session)."""

    id: str
    #: open, complete or expired.
    status: str
    #: paid, unpaid (a Direct Debit not collected yet) or no_payment_required.
    payment_status: str
    metadata: dict[str, str]
    customer_id: str | None
    amount_total: int
    currency: str
    created: datetime | None
    payment_intent_id: str | None
    subscription_id: str | None
    #: The subscription's state as the session was read (None: no subscription, or not expanded).
    subscription: SubscriptionFacts | None
    #: The invoice that collected it: the session's own, else its subscription's latest.
    invoice_id: str | None
    payment_method_types: tuple[str, ...]
    #: The line items when the session came with them (`checkout_lines` fetches them otherwise).
    lines: tuple[PaidLine, ...] | None

    @property
    def paid(self) -> bool:
        """The supporter has paid (or owed nothing): what it sold can be fulfilled."""
        return self.payment_status in ("paid", "no_payment_required")

    @property
    def collected(self) -> bool:
        """Money was taken (not a free session, not a Direct Debit still to be collected)."""
        return self.payment_status == "paid"

    @property
    def awaiting_collection(self) -> bool:
        """Completed by Direct Debit, the money not collected yet."""
        return self.status == "complete" and self.payment_status == "unpaid"

    @property
    def is_open(self) -> bool:
        """Not completed nor expired: the supporter can still pay at its URL."""
        return self.status == "open"

    @property
    def kind(self) -> str:
        """What our metadata says the session sells ("" for sessions made before kinds)."""
        return self.metadata.get("kind", "")

    def number(self, key: str) -> int:
        """A number our metadata holds (0 when absent); ValueError when it is not one."""
        return int(self.metadata.get(key) or 0)


def checkout_result(session: StripeObject | dict[str, Any]) -> CheckoutResult:
    """The facts of a Checkout Session object (as `retrieve_checkout` reads it, or an event's)."""
    subscription = field(session, "subscription")
    sub = subscription_facts(subscription) if subscription and not isinstance(subscription, str) else None
    items = field(session, "line_items")
    created = field(session, "created")
    return CheckoutResult(
        id=str(id_of(session) or ""),
        status=str(field(session, "status") or ""),
        payment_status=str(field(session, "payment_status") or ""),
        metadata={str(k): str(v) for k, v in _plain(field(session, "metadata")).items()},
        customer_id=id_of(field(session, "customer")),
        amount_total=int(field(session, "amount_total") or 0),
        currency=str(field(session, "currency") or "gbp"),
        created=_ts(created) if created else None,
        payment_intent_id=id_of(field(session, "payment_intent")),
        subscription_id=id_of(subscription),
        subscription=sub,
        invoice_id=id_of(field(session, "invoice")) or (sub.latest_invoice_id if sub else None),
        payment_method_types=tuple(str(m) for m in field(session, "payment_method_types") or []),
        lines=tuple(_paid_lines(items)) if items is not None else None,
    )


def retrieve_checkout(session_id: str) -> CheckoutResult:
    """The session (remembered per event, as `retrieve_checkout_session`), in our terms."""
    return checkout_result(retrieve_checkout_session(session_id))


def expire_checkout_session(session_id: str, *, idempotency_key: str) -> StripeObject:
    return _call(
        "expire checkout session",
        get_client().v1.checkout.sessions.expire,
        session_id,
        None,
        _opts(idempotency_key),
    )


def create_portal_session(customer_id: str, return_url: str) -> str:
    """The URL of Stripe's customer portal for this customer."""
    session = _call(
        "create portal session",
        get_client().v1.billing_portal.sessions.create,
        {"customer": customer_id, "return_url": return_url},
    )
    return str(session.url)
