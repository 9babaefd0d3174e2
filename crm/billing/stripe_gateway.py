"""The one door to Stripe: every call the app makes to Stripe goes through this module.

Nothing else imports `stripe`. The client talks to real Stripe, or to the bundled sandbox when
`STRIPE_API_BASE` points at it (`StripeClient` ignores the module-level `stripe.api_base`, so the
address is passed as `base_addresses`). Objects follow API version 2026-10-28.endive, the version
this SDK sends: an invoice names its subscription under `parent.subscription_details`, a
subscription's period is on its items, and an invoice's payment intents are in its includable
`payments` list. Stripe objects are `StripeObject`s, not dicts.

Errors from Stripe become `GatewayError`, whose `user_message` is safe to show to a supporter.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import stripe
from flask import Flask, current_app, g, has_app_context

if TYPE_CHECKING:
    from crm.contacts.models import Contact
    from crm.memberships.models import Plan

log = logging.getLogger(__name__)

StripeObject = stripe.StripeObject

_CLIENT_CACHE_KEY = "crm_stripe_clients"


class GatewayError(Exception):
    """A Stripe call failed. `user_message` is safe to show; `code` is Stripe's error code."""

    def __init__(
        self,
        message: str,
        *,
        user_message: str = "Our payment provider could not complete that. Please try again later.",
        code: str | None = None,
        http_status: int | None = None,
        kind: str = "api",
    ) -> None:
        super().__init__(message)
        self.user_message = user_message
        self.code = code
        self.http_status = http_status
        #: declined, unreachable, not_found, invalid, busy, config, api
        self.kind = kind


class InvalidWebhook(Exception):
    """A webhook body whose signature is missing, wrong or too old, or that is not an event."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


# --- the client -------------------------------------------------------------------------------


def get_client(app: Flask | None = None) -> stripe.StripeClient:
    """One StripeClient per app and settings (a changed STRIPE_API_BASE gets a fresh client)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cfg = app.config
    api_key = cfg.get("STRIPE_SECRET_KEY") or ""
    api_base = (cfg.get("STRIPE_API_BASE") or "").rstrip("/")
    retries = int(cfg.get("STRIPE_MAX_NETWORK_RETRIES", 2) or 0)
    timeout = float(cfg.get("STRIPE_TIMEOUT", 3))
    key = (api_key, api_base, retries, timeout)
    cache: dict[tuple[Any, ...], stripe.StripeClient] = app.extensions.setdefault(_CLIENT_CACHE_KEY, {})
    client = cache.get(key)
    if client is None:
        options: dict[str, Any] = {"max_network_retries": retries}
        if api_base:
            options["base_addresses"] = {"api": api_base}
        try:
            options["http_client"] = stripe.RequestsClient(timeout=timeout)
        except Exception:  # noqa: BLE001  (requests missing: the SDK's default client will do)
            log.debug("stripe: requests unavailable, using the SDK's default HTTP client")
        if cfg.get("STRIPE_CA_BUNDLE"):
            # Trust another CA for Stripe's address (a TLS-inspecting proxy, the smoke test's sandbox).
            stripe.ca_bundle_path = str(cfg["STRIPE_CA_BUNDLE"])
        client = stripe.StripeClient(api_key, **options)
        cache.clear()
        cache[key] = client
    return client


def reset_client(app: Flask | None = None) -> None:
    """Forget the cached client (tests that point the app at another sandbox)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    app.extensions.pop(_CLIENT_CACHE_KEY, None)


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one SDK call, turning Stripe's exceptions into GatewayError."""
    try:
        return fn(*args, **kwargs)
    except stripe.CardError as error:
        raise GatewayError(
            f"{what}: card error {error.code}",
            user_message="Your card was declined. Please try another card.",
            code=error.code,
            http_status=error.http_status,
            kind="declined",
        ) from error
    except stripe.APIConnectionError as error:
        log.warning("stripe: %s: cannot reach Stripe: %s", what, error.user_message or type(error).__name__)
        raise GatewayError(
            f"{what}: cannot reach Stripe",
            user_message="We could not reach our payment provider. Please try again in a few minutes.",
            kind="unreachable",
        ) from error
    except stripe.RateLimitError as error:
        raise GatewayError(
            f"{what}: rate limited",
            user_message="Our payment provider is busy. Please try again in a minute.",
            code=error.code,
            http_status=error.http_status,
            kind="busy",
        ) from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        log.error("stripe: %s: Stripe refused our credentials (check STRIPE_SECRET_KEY)", what)
        raise GatewayError(
            f"{what}: authentication refused",
            user_message="Payments are not available right now. Please try again later.",
            http_status=error.http_status,
            kind="config",
        ) from error
    except stripe.IdempotencyError as error:
        log.error("stripe: %s: an idempotency key was reused with other parameters", what)
        raise GatewayError(
            f"{what}: {error.user_message}",
            user_message="That payment could not be set up.",
            code=error.code,
            http_status=error.http_status,
            kind="invalid",
        ) from error
    except stripe.InvalidRequestError as error:
        not_found = error.code == "resource_missing"
        log.warning("stripe: %s: invalid request (%s): %s", what, error.code, error.user_message)
        raise GatewayError(
            f"{what}: {error.user_message}",
            user_message=(
                "We could not find that payment record." if not_found else "That payment could not be set up."
            ),
            code=error.code,
            http_status=error.http_status,
            kind="not_found" if not_found else "invalid",
        ) from error
    except stripe.StripeError as error:
        log.warning("stripe: %s failed (%s): %s", what, type(error).__name__, error.user_message)
        raise GatewayError(
            f"{what}: {type(error).__name__}",
            code=getattr(error, "code", None),
            http_status=getattr(error, "http_status", None),
        ) from error


def _opts(idempotency_key: str | None) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


def _key_for(prefix: str, params: dict[str, Any]) -> str:
    """An idempotency key that is the same for the same intended request, and only for it."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return f"{prefix}-{digest}"


# --- customers and checkout -------------------------------------------------------------------


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


def checkout_lines(session: Any) -> list[PaidLine]:
    """The session's own line items (fetched when the session came without them)."""
    items = _field(session, "line_items")
    if items is None:
        items = _call(
            "list checkout line items",
            get_client().v1.checkout.sessions.line_items.list,
            str(session["id"]),
            {"limit": 100, "expand": ["data.price.product"]},
        )
    lines = []
    for row in _field(items, "data") or []:
        price = _field(row, "price")
        product = _field(price, "product")
        metadata = _field(product, "metadata") or {}
        lines.append(
            PaidLine(
                price_id=_id_of(price),
                product_id=_id_of(product),
                line_kind=str(_field(metadata, "crm_line") or ""),
                signature=str(_field(metadata, "crm_sig") or ""),
                description=str(_field(row, "description") or ""),
                amount=int(_field(row, "amount_total") or 0),
                unit_amount=int(_field(price, "unit_amount") or 0),
                quantity=int(_field(row, "quantity") or 0),
                currency=str(_field(row, "currency") or _field(price, "currency") or "").lower(),
                recurring=_field(price, "recurring") is not None,
            )
        )
    return lines


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


# --- subscriptions, invoices, charges -----------------------------------------------------------


_READS_KEY = "crm_stripe_reads"


@contextmanager
def remembered_reads() -> Iterator[None]:
    """Within this block (one webhook event), fetching the same Stripe object again returns the
    first answer: an event's processing can fetch what it needs up front, before its transaction
    takes any lock, and read the same state throughout. Nothing is kept after the block."""
    previous = g.get(_READS_KEY)
    setattr(g, _READS_KEY, {})
    try:
        yield
    finally:
        setattr(g, _READS_KEY, previous)


def _remembered(kind: str, ident: str, fetch: Any) -> StripeObject:
    reads = g.get(_READS_KEY) if has_app_context() else None
    if reads is None:
        return fetch()
    key = (kind, ident)
    if key not in reads:
        reads[key] = fetch()
    return reads[key]


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
    return _remembered("charge_refunds", charge_id, lambda: _charge_refunds(charge_id))  # type: ignore[no-any-return]


def _charge_refunds(charge_id: str) -> list[ChargeRefund]:
    found = []
    for refund in _iterate("list refunds", get_client().v1.refunds.list, {"charge": charge_id, "limit": 100}):
        if _field(refund, "status") in ("failed", "canceled"):
            continue
        metadata = _plain(_field(refund, "metadata"))
        try:
            payment_id = int(metadata.get("payment_id") or 0) or None
        except (TypeError, ValueError):
            payment_id = None
        amount = int(_field(refund, "amount") or 0)
        found.append(ChargeRefund(id=str(refund["id"]), amount=amount, payment_id=payment_id))
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
    method = _field(sub, "default_payment_method")
    if not method or isinstance(method, str):
        method = _field(_field(_field(sub, "customer"), "invoice_settings"), "default_payment_method")
    if not method or isinstance(method, str) or _field(method, "type") != "card":
        return None
    card = _field(method, "card")
    try:
        return CardExpiry(int(card["exp_month"]), int(card["exp_year"]), str(_field(card, "last4") or ""))
    except (TypeError, KeyError, ValueError):
        return None


def retrieve_payment_intent(payment_intent_id: str) -> StripeObject:
    return _call("retrieve payment intent", get_client().v1.payment_intents.retrieve, payment_intent_id)


def _field(obj: Any, key: str) -> Any:
    """`obj[key]` or None; works on StripeObjects (which have no `.get`) and plain dicts alike."""
    if obj is None or isinstance(obj, str):
        return None
    return obj[key] if key in obj else None


def _plain(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj)


def _ts(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def subscription_period(sub: StripeObject) -> tuple[datetime, datetime]:
    """(start, end) of the current period, from the first item (endive keeps it there)."""
    item = sub["items"]["data"][0]
    return _ts(item["current_period_start"]), _ts(item["current_period_end"])


def subscription_price_id(sub: StripeObject) -> str | None:
    items = sub["items"]["data"]
    if not items:
        return None
    price = items[0]["price"]
    return str(price if isinstance(price, str) else price["id"])


def _id_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value["id"])


def invoice_subscription_id(invoice: StripeObject) -> str | None:
    """The subscription an invoice bills, from `parent.subscription_details.subscription`."""
    details = _field(_field(invoice, "parent"), "subscription_details")
    return _id_of(_field(details, "subscription"))


def invoice_subscription_metadata(invoice: StripeObject) -> dict[str, str]:
    """The subscription's metadata as snapshotted on the invoice (empty when none)."""
    details = _field(_field(invoice, "parent"), "subscription_details")
    return {str(k): str(v) for k, v in _plain(_field(details, "metadata")).items()}


def invoice_payment_intent_id(invoice: StripeObject) -> str | None:
    """The paid (or latest) payment intent of an invoice; fetches `payments` when not included."""
    payments = _field(invoice, "payments")
    if payments is None:
        payments = _field(retrieve_invoice(str(invoice["id"])), "payments")
    rows = list(_field(payments, "data") or [])
    rows.sort(key=lambda row: (_field(row, "status") != "paid", -int(_field(row, "created") or 0)))
    for row in rows:
        intent = _field(_field(row, "payment"), "payment_intent")
        if intent:
            return _id_of(intent)
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


def create_refund(
    *, payment_intent_id: str, amount: int, idempotency_key: str, metadata: dict[str, str]
) -> StripeObject:
    """Refund `amount` minor units of a payment intent's charge."""
    if amount <= 0:
        raise ValueError("refund amount must be positive")
    return _call(
        "create refund",
        get_client().v1.refunds.create,
        {"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
        _opts(idempotency_key),
    )


# --- plans -------------------------------------------------------------------------------------


def _price_matches(price: Any, plan: Plan, product_id: str) -> bool:
    recurring = _field(price, "recurring")
    interval = recurring["interval"] if recurring else "lifetime"
    return (
        _field(price, "unit_amount") == plan.amount
        and str(_field(price, "currency")) == plan.currency.lower()
        and interval == plan.interval
        and (recurring is None or int(_field(recurring, "interval_count") or 1) == 1)
        and _id_of(_field(price, "product")) == product_id
    )


def sync_plan(plan: Plan) -> bool:
    """Create or update the plan's Product and Price; True when anything changed.

    Prices are immutable in Stripe: a changed amount, currency or interval makes a new Price and
    archives the old one (existing subscriptions keep it until they move).
    """
    client = get_client()
    changed = False
    product_fields: dict[str, Any] = {"name": plan.name, "active": bool(plan.active)}
    if plan.description:
        product_fields["description"] = plan.description[:5000]
    product = None
    if plan.stripe_product_id:
        try:
            product = _call("retrieve product", client.v1.products.retrieve, plan.stripe_product_id)
        except GatewayError as error:
            if error.kind != "not_found":
                raise
    if product is None:
        params = {**product_fields, "metadata": {"plan_id": str(plan.id)}}
        product = _call(
            "create product",
            client.v1.products.create,
            params,
            _opts(_key_for(f"plan-{plan.id}-product", params)),
        )
        changed = True
    else:
        updates = {k: v for k, v in product_fields.items() if _field(product, k) != v}
        if updates:
            product = _call("update product", client.v1.products.update, product.id, updates)
            changed = True
    product_id = str(product.id)
    if plan.stripe_product_id != product_id:
        plan.stripe_product_id = product_id
        changed = True

    old_price = None
    if plan.stripe_price_id:
        try:
            old_price = _call("retrieve price", client.v1.prices.retrieve, plan.stripe_price_id)
        except GatewayError as error:
            if error.kind != "not_found":
                raise
    if old_price is not None and _price_matches(old_price, plan, product_id):
        if not _field(old_price, "active"):
            _call("reactivate price", client.v1.prices.update, old_price.id, {"active": True})
            changed = True
    else:
        params = {
            "product": product_id,
            "unit_amount": plan.amount,
            "currency": plan.currency.lower(),
            "nickname": plan.name[:100],
            "metadata": {"plan_id": str(plan.id)},
        }
        if plan.interval in ("month", "year"):
            params["recurring"] = {"interval": plan.interval, "interval_count": 1}
        price = _call(
            "create price",
            client.v1.prices.create,
            params,
            _opts(_key_for(f"plan-{plan.id}-price", params)),
        )
        # The same key within 24 h replays the first answer, though that price may be archived since.
        price = _call("retrieve price", client.v1.prices.retrieve, price.id)
        if not _field(price, "active"):
            price = _call("reactivate price", client.v1.prices.update, price.id, {"active": True})
        if old_price is not None and _field(old_price, "active") and old_price.id != price.id:
            _call("archive price", client.v1.prices.update, old_price.id, {"active": False})
        plan.stripe_price_id = str(price.id)
        changed = True
    if changed:
        from crm.extensions import db

        db.session.flush()
    return changed


# --- webhooks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedWebhook:
    """A delivery whose signature the SDK verified, with the event as Stripe sent it (the parsed
    JSON: the handlers read dicts and StripeObjects alike, and building the SDK's object for a
    large event costs more than handling it). `event()` builds the SDK's object when wanted."""

    payload: bytes
    id: str
    type: str
    data: dict[str, Any]

    def event(self) -> StripeObject:
        return get_client().construct_event_without_verification(self.payload)


def verify_webhook(payload: bytes, sig_header: str | None) -> VerifiedWebhook:
    """The verified delivery; InvalidWebhook when the signature is missing, wrong or stale, or the
    body is not a Stripe event."""
    cfg = current_app.config
    secret = cfg.get("STRIPE_WEBHOOK_SECRET") or ""
    tolerance = int(cfg.get("STRIPE_WEBHOOK_TOLERANCE", 300))
    if not sig_header:
        raise InvalidWebhook("no Stripe-Signature header")
    if not secret:
        raise InvalidWebhook("STRIPE_WEBHOOK_SECRET is not configured")
    try:
        stripe.WebhookSignature.verify_header(payload, sig_header, secret, tolerance)
    except stripe.SignatureVerificationError as error:
        raise InvalidWebhook("signature verification failed") from error
    except (ValueError, UnicodeDecodeError, TypeError, AttributeError) as error:
        raise InvalidWebhook("signature verification failed") from error
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidWebhook("body is not a Stripe event") from error
    # A correctly signed body that is not a JSON object (e.g. `0` or `[]`) is still not an event.
    if not isinstance(data, dict) or data.get("object") != "event":
        raise InvalidWebhook("body is not a Stripe event")
    event_id, event_type = data.get("id"), data.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str) or not event_type:
        raise InvalidWebhook("body is not a Stripe event")
    return VerifiedWebhook(payload=bytes(payload), id=event_id, type=event_type, data=data)


def construct_event(payload: bytes, sig_header: str | None) -> StripeObject:
    """The verified event as the SDK's object; InvalidWebhook as `verify_webhook`."""
    verified = verify_webhook(payload, sig_header)
    try:
        return verified.event()
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        raise InvalidWebhook("body is not a Stripe event") from error


def event_to_dict(obj: Any) -> dict[str, Any]:
    """A plain, JSON-ready dict of a Stripe object (for storing or logging)."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict(recursive=True, for_json=True)
    return dict(obj)


# --- lists, for reconciliation -----------------------------------------------------------------


def _iterate(what: str, fn: Any, params: dict[str, Any]) -> Iterator[StripeObject]:
    page = _call(what, fn, params)
    iterator = page.auto_paging_iter()
    while True:
        try:
            item = _call(what, next, iterator)
        except StopIteration:
            return
        yield item


def list_subscriptions(created_gte: int) -> Iterator[StripeObject]:
    """Every subscription created since then, cancelled ones included."""
    return _iterate(
        "list subscriptions",
        get_client().v1.subscriptions.list,
        {"created": {"gte": int(created_gte)}, "status": "all", "limit": 100},
    )


def list_invoices(created_gte: int) -> Iterator[StripeObject]:
    return _iterate(
        "list invoices",
        get_client().v1.invoices.list,
        {"created": {"gte": int(created_gte)}, "limit": 100},
    )


def list_refunds(created_gte: int) -> Iterator[StripeObject]:
    return _iterate(
        "list refunds",
        get_client().v1.refunds.list,
        {"created": {"gte": int(created_gte)}, "limit": 100},
    )


def list_events(created_gte: int, types: list[str] | None = None) -> Iterator[StripeObject]:
    params: dict[str, Any] = {"created": {"gte": int(created_gte)}, "limit": 100}
    if types:
        params["types"] = types
    return _iterate("list events", get_client().v1.events.list, params)
