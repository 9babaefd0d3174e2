"""Bacs Direct Debit through Stripe Checkout: the first collection settles days after Checkout.

A Direct Debit Checkout completes with `payment_status: unpaid`; the membership is then
"Direct Debit being set up" (lifecycle `direct_debit_pending`, no members' access yet). Stripe
later sends `checkout.session.async_payment_succeeded` (with `invoice.paid` for a subscription),
which activates it through the usual fulfilment, or `checkout.session.async_payment_failed`,
which ends it (expired) with a clear email. The events may come in any order or twice: the
lifecycle only moves forward (pending -> being set up -> active or expired).
Renewals by Direct Debit are ordinary invoices: `invoice.paid` / `invoice.payment_failed` give
the same no-gap and grace rules as cards.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from crm.billing.stripe_gateway import CheckoutResult, StripeEvent
from crm.email.services import queue_email
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipStatus

log = logging.getLogger("crm.billing.direct_debit")

#: The payment methods the app offers in Checkout; a session paid any other way is not ours to fulfil.
OFFERED_METHODS = ("card", "bacs_debit")


def payment_methods_for(currency: str) -> tuple[str, ...]:
    """Card always; Bacs Direct Debit beside it for GBP when DIRECT_DEBIT_ENABLED (Bacs is GBP only)."""
    if currency.lower() == "gbp" and current_app.config.get("DIRECT_DEBIT_ENABLED", True):
        return ("card", "bacs_debit")
    return ()


def offered(session: CheckoutResult) -> bool:
    """False (logged) for a session whose payment methods include one the app never offers."""
    unknown = [m for m in session.payment_method_types if m not in OFFERED_METHODS]
    if unknown:
        log.warning("checkout session %s: payment method %s was not offered: ignored", session.id, unknown)
        return False
    return True


def _membership_of(session: CheckoutResult) -> Membership | None:
    """The session's membership, row-locked, when the session's metadata names our records."""
    try:
        membership_id = session.number("membership_id")
        contact_id = session.number("contact_id")
    except ValueError:
        return None
    if not membership_id:
        return None
    membership = db.session.get(Membership, membership_id, with_for_update=True, populate_existing=True)
    if membership is None or membership.contact_id != contact_id:
        return None
    if membership.stripe_checkout_session_id not in (None, session.id):
        return None  # an older session of this membership: the newer one decides
    return membership


def awaiting_collection(session: CheckoutResult) -> bool:
    return session.awaiting_collection


def note_awaiting_collection(session: CheckoutResult, *, stripe_event_id: str | None) -> str:
    """Checkout completed by Direct Debit, not yet collected: the membership is being set up."""
    if not awaiting_collection(session) or not offered(session):
        return "unpaid"
    membership = _membership_of(session)
    if membership is None:
        return "ignored"
    sub_id = session.subscription_id
    if sub_id and membership.stripe_subscription_id is None:
        taken = db.session.scalar(select(Membership.id).where(Membership.stripe_subscription_id == sub_id))
        if taken is None:
            membership.stripe_subscription_id = sub_id
    changed = lifecycle.await_direct_debit(
        membership, reason="Direct Debit set up, first collection pending", stripe_event_id=stripe_event_id
    )
    membership.checkout_url = None
    db.session.flush()
    return "direct_debit_pending" if changed else "already"


def handle_async_payment_failed(event: StripeEvent) -> str:
    """The first Direct Debit collection failed: no membership, and the supporter is told why."""
    from crm.billing import stripe_gateway as gateway

    session_id = event.object_id
    if not session_id:
        return "ignored"
    session = gateway.retrieve_checkout(session_id)
    if not offered(session):
        return "ignored"
    membership = _membership_of(session)
    if membership is None:
        return "ignored"
    lifecycle.fail_direct_debit(
        membership, reason="first Direct Debit collection failed", stripe_event_id=event.id
    )
    if membership.status != MembershipStatus.EXPIRED:
        return "ignored"  # collected after all (a later success won): nothing failed
    # Stripe may have ended the subscription first (customer.subscription.updated): the
    # membership is expired either way, and the email goes once per session (dedupe key).
    membership.checkout_url = None
    queue_failed_email(
        membership,
        amount=session.amount_total,
        currency=session.currency,
        session_id=str(session_id),
    )
    return "direct_debit_failed"


def queue_failed_email(membership: Membership, *, amount: int, currency: str, session_id: str) -> None:
    """Tell the supporter their Direct Debit did not go through, once per Checkout Session (the session's
    async_payment_failed and a first collection returned after it looked paid share the key)."""
    contact = membership.contact
    if contact.erased_at is not None:
        return
    queue_email(
        contact.email,
        "direct_debit_failed",
        {
            "first_name": contact.first_name,
            "plan_name": membership.plan.name,
            "plan_name_es": membership.plan.name_es,
            "amount": amount,
            "currency": currency,
        },
        contact_id=contact.id,
        dedupe_key=f"direct_debit_failed:{session_id}",
    )
