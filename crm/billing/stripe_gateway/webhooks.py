"""Verifying webhook deliveries and turning them into events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app

from crm.billing.stripe_gateway.client import (
    InvalidWebhook,
    get_client,
    stripe,
)

if TYPE_CHECKING:
    from crm.billing.stripe_gateway.client import StripeObject


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
