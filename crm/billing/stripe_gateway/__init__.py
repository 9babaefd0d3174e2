"""The one door to Stripe: every call the app makes to Stripe goes through this package.

Nothing else imports `stripe`. The client talks to real Stripe, or to the bundled sandbox when
`STRIPE_API_BASE` points at it (`StripeClient` ignores the module-level `stripe.api_base`, so the
address is passed as `base_addresses`). Objects follow API version 2026-10-28.endive, the version
this SDK sends: an invoice names its subscription under `parent.subscription_details`, a
subscription's period is on its items, and an invoice's payment intents are in its includable
`payments` list. Stripe objects are `StripeObject`s, not dicts.

Errors from Stripe become `GatewayError`, whose `user_message` is safe to show to a supporter.

By resource: `client` (the client, errors, the one field reader `field`, which nothing outside
this package uses), `checkout` (customers, Checkout, portal), `payments` (subscriptions, charges,
refunds), `events` (webhook events, invoices, charges and disputes in our terms: `StripeEvent`,
`InvoiceFacts` ...), `plans`, `webhooks` and `lists` (for reconciliation). Callers use
`stripe_gateway.<name>`.
"""

from __future__ import annotations

from crm.billing.stripe_gateway.checkout import (
    CheckoutResult,
    PaidLine,
    checkout_lines,
    checkout_result,
    create_booking_checkout_session,
    create_checkout_session,
    create_portal_session,
    ensure_customer,
    expire_checkout_session,
    retrieve_checkout,
    retrieve_checkout_session,
    update_customer_name,
)
from crm.billing.stripe_gateway.client import (
    CheckoutSession,
    GatewayError,
    InvalidWebhook,
    get_client,
    id_of,
    remembered_reads,
    reset_client,
)
from crm.billing.stripe_gateway.events import (
    ChargeFacts,
    DisputeFacts,
    InvoiceFacts,
    InvoiceLine,
    StripeEvent,
    charge,
    invoice,
    invoice_facts,
    list_invoices,
    list_subscriptions,
    payment_intent_of,
    stripe_event,
    subscription,
)
from crm.billing.stripe_gateway.lists import (
    list_events,
    list_refunds,
)
from crm.billing.stripe_gateway.payments import (
    CardExpiry,
    ChargeRefund,
    Collection,
    RefundFacts,
    SubscriptionFacts,
    cancel_subscription_now,
    change_subscription_price,
    collection_of,
    create_refund,
    default_card_expiry,
    invoice_payment_intent_id,
    invoice_subscription_id,
    invoice_subscription_metadata,
    list_charge_refunds,
    refund_facts,
    retrieve_charge,
    retrieve_invoice,
    retrieve_payment_intent,
    retrieve_subscription,
    set_cancel_at_period_end,
    subscription_facts,
    subscription_period,
    subscription_price_id,
)
from crm.billing.stripe_gateway.plans import (
    sync_plan,
)
from crm.billing.stripe_gateway.webhooks import (
    VerifiedWebhook,
    construct_event,
    event_to_dict,
    verify_webhook,
)

__all__ = [
    "CardExpiry",
    "ChargeFacts",
    "ChargeRefund",
    "CheckoutResult",
    "CheckoutSession",
    "Collection",
    "DisputeFacts",
    "GatewayError",
    "InvalidWebhook",
    "InvoiceFacts",
    "InvoiceLine",
    "PaidLine",
    "RefundFacts",
    "StripeEvent",
    "SubscriptionFacts",
    "VerifiedWebhook",
    "cancel_subscription_now",
    "change_subscription_price",
    "charge",
    "checkout_lines",
    "checkout_result",
    "collection_of",
    "construct_event",
    "create_booking_checkout_session",
    "create_checkout_session",
    "create_portal_session",
    "create_refund",
    "default_card_expiry",
    "ensure_customer",
    "event_to_dict",
    "expire_checkout_session",
    "get_client",
    "id_of",
    "invoice",
    "invoice_facts",
    "invoice_payment_intent_id",
    "invoice_subscription_id",
    "invoice_subscription_metadata",
    "list_charge_refunds",
    "list_events",
    "list_invoices",
    "list_refunds",
    "list_subscriptions",
    "remembered_reads",
    "payment_intent_of",
    "refund_facts",
    "reset_client",
    "retrieve_charge",
    "retrieve_checkout",
    "retrieve_checkout_session",
    "retrieve_invoice",
    "retrieve_payment_intent",
    "retrieve_subscription",
    "set_cancel_at_period_end",
    "stripe_event",
    "subscription",
    "subscription_facts",
    "subscription_period",
    "subscription_price_id",
    "sync_plan",
    "update_customer_name",
    "verify_webhook",
]
