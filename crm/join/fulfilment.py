"""Fulfilling a paid Checkout Session: the one place a supporter becomes a member or a donor.

`fulfil_checkout_session` is what both the success page and the webhook run. It is idempotent
and safe to race: the membership row is locked first, and the payment's natural key is unique.
The webhook reaches it through the checkout registry (crm/billing/events.py), so billing never
imports join.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from crm.billing import collection_failures, direct_debit, donations, subscriptions
from crm.billing import events as billing_events
from crm.billing import stripe_gateway as gateway
from crm.billing.models import PaymentKind, PaymentStatus
from crm.billing.services import queue_receipt, record_stripe_payment, session_collection
from crm.billing.stripe_gateway import CheckoutResult
from crm.contacts import consent
from crm.contacts.gift_aid import gift_aid_wording
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.core.database import locked_for_update
from crm.core.languages import DEFAULT_LANGUAGE, normalise_language
from crm.core.types import utcnow
from crm.extensions import db
from crm.join import paid_for
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipStatus, Plan

log = logging.getLogger("crm.join")

#: The metadata kinds of the sessions join starts (crm/join/services.py); a session without
#: a kind is handled as a membership, as it always was.
CHECKOUT_KINDS = ("membership", "renewal", "donation")


def _record_declarations(contact: Contact, metadata: dict[str, str], *, source: str) -> None:
    """The Gift Aid declaration and email consent ticked on the form, now that payment proved them,
    in the words and language the form showed (the session's `lang`; older sessions had none)."""
    org = current_app.config["ORG_NAME"]
    language = (
        normalise_language(metadata.get("lang", ""))
        or normalise_language(contact.preferred_language)
        or DEFAULT_LANGUAGE
    )
    now = utcnow()
    if metadata.get("gift_aid") == "1":
        existing = db.session.scalar(
            select(GiftAidDeclaration.id).where(
                GiftAidDeclaration.contact_id == contact.id, GiftAidDeclaration.cancelled_at.is_(None)
            )
        )
        if existing is None:
            db.session.add(
                GiftAidDeclaration(
                    contact_id=contact.id,
                    declared_at=now,
                    valid_from=now - timedelta(days=4 * 365),
                    wording=gift_aid_wording(org, language),
                    language=language,
                    source=source,
                    house=contact.address_line1,
                    postcode=contact.postcode,
                )
            )
    # "email_updates" = news (older sessions ticked one box for both); "email_appeals" = appeals.
    chosen = {("email", "news"): metadata.get("email_updates") == "1",
              ("email", "appeals"): metadata.get("email_appeals") == "1"}  # fmt: skip
    consent.record_choices(
        contact,
        {pair: True for pair, yes in chosen.items() if yes},
        source=source,
        org=org,
        language=language,
    )
    db.session.flush()


def _ours(session: CheckoutResult) -> tuple[Contact | None, Membership | None, Plan | None]:
    """The local rows a session names; (None, ...) when it is not one of ours."""
    try:
        contact_id = session.number("contact_id")
        membership_id = session.number("membership_id")
        plan_id = session.number("plan_id")
    except ValueError:
        return None, None, None
    contact = db.session.get(Contact, contact_id) if contact_id else None
    if contact is None:
        return None, None, None
    customer = session.customer_id
    if contact.stripe_customer_id and customer and customer != contact.stripe_customer_id:
        return None, None, None
    if session.kind == "donation":
        return contact, None, None
    # The success page and the webhook apply the same session at the same moment: the membership
    # row is locked first (on SQLite: the database's write lock), then the contact read again, so
    # the second of the two sees what the first wrote (its member number, its new version).
    membership = locked_for_update(Membership, membership_id) if membership_id else None
    if membership is not None:
        db.session.refresh(contact)
    plan = db.session.get(Plan, plan_id) if plan_id else None
    if membership is None or plan is None or membership.contact_id != contact.id:
        return None, None, None
    return contact, membership, plan


def _apply_renewal(membership: Membership, plan: Plan, amount: int, stripe_event_id: str | None) -> None:
    """One more period, following on from the paid-through date (or from today after it passed)."""
    start = max(membership.paid_through or utcnow(), utcnow())
    lifecycle.activate_from_payment(
        membership,
        period_start=start,
        paid_through=lifecycle.period_end(plan, start),
        amount=amount,
        reason="renewed by card (Stripe Checkout)",
        stripe_event_id=stripe_event_id,
    )


def _period_still_unbought(membership: Membership, metadata: dict[str, str]) -> bool:
    """The renewal was started for the paid-through date the membership still has."""
    through = metadata.get("through", "")
    current = membership.paid_through.isoformat() if membership.paid_through else ""
    return not through or through == current


def _record_second_renewal(membership: Membership, payment_id: int) -> None:
    """A second payment for a period already bought: kept, not applied, and flagged for a refund."""
    from crm.audit.services import record

    record(
        "payment.second_renewal",
        target_type="membership",
        target_id=membership.id,
        contact_id=membership.contact_id,
        actor_label="stripe",
        detail=f"payment {payment_id} renews a period already paid for: check and refund",
    )


def fulfil_checkout_session(session: CheckoutResult, *, stripe_event_id: str | None = None) -> str:
    """Apply a completed, paid Checkout Session once: 'activated', 'donation', 'already', 'unpaid', 'ignored'."""
    if not session.paid:
        return "unpaid"
    collection = session_collection(session)  # Stripe is asked before the membership row is locked
    sub_id = session.subscription_id
    paid_period = (
        subscriptions.period_paid_by(session.invoice_id, session.subscription or sub_id) if sub_id else None
    )
    contact, membership, plan = _ours(session)
    if contact is None:
        return "ignored"
    kind = PaymentKind.DONATION if membership is None else PaymentKind.MEMBERSHIP
    if membership is not None and plan is not None and plan.id != membership.plan_id:
        return "ignored"  # a tampered session: metadata does not match our record
    amount = session.amount_total
    intent_id = session.payment_intent_id
    paid_at = session.created or utcnow()
    try:
        claimed_donation = session.number("donation")
    except ValueError:
        return "ignored"
    renewal = session.kind == "renewal"
    bought = "renewal" if renewal else kind
    if not paid_for.session_pays_for(
        gateway.checkout_lines(session),
        kind=bought,
        plan=plan,
        donation=claimed_donation,
        amount_total=amount,
    ):
        log.warning("checkout session %s: its line items do not pay for its metadata", session.id)
        return "ignored"
    # A donation added at join is its own payment (crm/billing/donations.py), Gift Aid eligible
    # on its own; the membership payment is eligible only on an eligible plan.
    donation = donations.paid_for_by_session(session) if membership is not None else 0
    gift_aid_eligible = membership is None or bool(plan and plan.gift_aid_eligible)

    sub = _subscription_of(session)
    if sub is not None and membership is not None and not subscriptions.subscription_is_ours(sub):
        return "ignored"
    invoice_id = (session.invoice_id or sub.latest_invoice_id) if sub is not None else None

    payment, created = record_stripe_payment(
        contact_id=contact.id,
        membership_id=membership.id if membership else None,
        kind=kind,
        amount=amount,
        currency=session.currency,
        paid_at=paid_at,
        invoice_id=invoice_id,
        payment_intent_id=intent_id,
        checkout_session_id=session.id,
        gift_aid_eligible=gift_aid_eligible,
        collection=collection,
    )
    if donation:
        donations.record_donation_part(payment, total=amount, donation=donation)
        amount = payment.amount
    if payment.status == PaymentStatus.FAILED:  # collected, then returned before this event came
        return collection_failures.payment_failed(payment, intent_id, stripe_event_id=stripe_event_id)
    if membership is not None and renewal:
        if created and plan is not None:  # applied once: the payment row is the guard
            if _period_still_unbought(membership, session.metadata):
                _apply_renewal(membership, plan, amount, stripe_event_id)
            else:
                _record_second_renewal(membership, payment.id)
    elif membership is not None:
        _activate_for_session(membership, plan, sub, paid_period, amount, paid_at, stripe_event_id)
    # Idempotent, and run even when invoice.paid recorded the payment first.
    _record_declarations(contact, session.metadata, source="join" if membership else "donate")
    if created:
        queue_receipt(payment)
        return "donation" if membership is None else "activated"
    return "already"


def _subscription_of(session: CheckoutResult) -> gateway.SubscriptionFacts | None:
    """The session's subscription as Stripe has it (read with the session; fetched if it was not)."""
    if session.subscription is not None or not session.subscription_id:
        return session.subscription
    return gateway.subscription(session.subscription_id)


def _activate_for_session(
    membership: Membership,
    plan: Plan | None,
    sub: gateway.SubscriptionFacts | None,
    paid_period: tuple[Any, Any] | None,
    amount: int,
    paid_at: datetime,
    stripe_event_id: str | None,
) -> None:
    if sub is not None and membership.stripe_subscription_id != sub.id:
        taken = db.session.scalar(select(Membership.id).where(Membership.stripe_subscription_id == sub.id))
        if taken is None:
            membership.stripe_subscription_id = sub.id
    end: datetime | None
    if paid_period is not None:  # a subscription: the period its first invoice paid for
        start, end = paid_period
    else:
        start, end = paid_at, None if plan is None else lifecycle.period_end(plan, paid_at)
    if (
        membership.status in (MembershipStatus.ACTIVE, MembershipStatus.GRACE, MembershipStatus.SUSPENDED)
        and membership.joined_at is not None
    ):
        if paid_period is None:
            return  # already applied (the other of webhook and success page got here first)
    try:
        lifecycle.activate_from_payment(
            membership,
            period_start=start,
            paid_through=end,
            amount=amount,
            reason="paid by card (Stripe Checkout)",
            stripe_event_id=stripe_event_id,
        )
    except lifecycle.AlreadyMember as error:
        from crm.audit.services import record

        record(
            "payment.second_membership",
            target_type="membership",
            target_id=membership.id,
            contact_id=membership.contact_id,
            actor_label="stripe",
            detail=f"paid for membership {membership.id} while {error.membership.status} membership "
            f"{error.membership.id} exists: check and refund",
        )
    membership.checkout_url = None
    db.session.flush()


def fulfil_from_webhook(session: CheckoutResult, *, stripe_event_id: str | None = None) -> str:
    """The webhook's step for a join, renewal or donation session: fulfil it, note a Direct Debit
    still to be collected, and let Stripe's current subscription state win (a subscription
    already ended leaves no running membership, whatever the arrival order)."""
    result = fulfil_checkout_session(session, stripe_event_id=stripe_event_id)
    if result == "unpaid":  # Bacs Direct Debit: collected days later
        return direct_debit.note_awaiting_collection(session, stripe_event_id=stripe_event_id)
    sub_id = session.subscription_id
    if sub_id:
        membership_id = db.session.scalar(
            select(Membership.id).where(Membership.stripe_subscription_id == sub_id)
        )
        if membership_id is not None:
            # The session was fetched just now with its subscription expanded: that is Stripe's
            # current state already, so it is not fetched a second time.
            current = session.subscription or subscriptions.fresh_subscription(sub_id, None)
            subscriptions.follow_subscription_status(
                subscriptions.locked_membership(membership_id), current, stripe_event_id
            )
    return result


def init_app() -> None:
    """Register join's sessions with the webhook's checkout registry (called by create_app)."""
    billing_events.register_checkout(*CHECKOUT_KINDS, default=True)(fulfil_from_webhook)
