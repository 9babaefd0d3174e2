"""Join, donate and subscribe: contacts, pending memberships and Stripe Checkout.

Nothing becomes a member here except through `fulfil_checkout_session`, the one function that
both the success page and the webhook run. It is idempotent and safe to race: the membership row
is locked first, and the payment's natural key is unique.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from crm.billing import direct_debit, donations
from crm.billing import stripe_gateway as gateway
from crm.billing.services import field, id_of, insert_once, queue_receipt, record_stripe_payment, timestamp
from crm.contacts import consent
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.core.database import locked_for_update
from crm.core.types import utcnow
from crm.extensions import db
from crm.join import paid_for
from crm.join.forms import gift_aid_wording
from crm.memberships import lifecycle
from crm.memberships.models import Membership, Plan

log = logging.getLogger("crm.join")

CONTACT_FIELDS = (
    "title",
    "first_name",
    "last_name",
    "address_line1",
    "address_line2",
    "town",
    "postcode",
    "country",
    "phone",
    "preferred_language",
)


@dataclass
class Checkout:
    url: str
    session_id: str


def active_plans() -> list[Plan]:
    return list(
        db.session.scalars(select(Plan).where(Plan.active.is_(True)).order_by(Plan.display_order, Plan.id))
    )


def find_contact(email: str) -> Contact | None:
    return db.session.scalar(select(Contact).where(Contact.email == email.strip().lower()))


def find_or_create_contact(email: str, details: dict[str, Any], *, source: str) -> Contact:
    """A known email is reused as it is: an anonymous form may not write to someone's record
    (not even its blank fields); crm/join/corrections.py decides what a join may correct."""
    email = email.strip().lower()
    for _attempt in range(2):
        contact = find_contact(email)
        if contact is not None:
            return contact
        contact = Contact(
            email=email, source=source, **{k: v or "" for k, v in details.items() if k in CONTACT_FIELDS}
        )
        if not insert_once(contact):  # created by a concurrent request: use theirs
            continue
        return contact
    raise RuntimeError("could not create the contact")  # pragma: no cover


def _idempotency_key(prefix: str, parts: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"{prefix}-{digest}"


def ensure_plan_price(plan: Plan) -> str:
    if not plan.stripe_price_id:
        gateway.sync_plan(plan)
    if not plan.stripe_price_id:
        raise gateway.GatewayError(
            "plan has no price", user_message="That plan cannot be paid for online yet."
        )
    return plan.stripe_price_id


def _donation_line(amount: int, currency: str) -> dict[str, Any]:
    return {
        "price_data": {
            "currency": currency,
            "unit_amount": amount,
            "product_data": {"name": paid_for.donation_line_name(), "metadata": {"crm_line": paid_for.DONATION_LINE}},
        },
        "quantity": 1,
    }


def _urls() -> tuple[str, str]:
    base = current_app.config["BASE_URL"]
    return f"{base}/join/success?session_id={{CHECKOUT_SESSION_ID}}", f"{base}/join?cancelled=1"


def _reusable_session(membership: Membership, wanted: dict[str, str]) -> str | None:
    """The stored Checkout URL while that session is still open for the same choices."""
    if not membership.stripe_checkout_session_id or not membership.checkout_url:
        return None
    try:
        session = gateway.retrieve_checkout_session(membership.stripe_checkout_session_id)
    except gateway.GatewayError:
        return None
    metadata = field(session, "metadata") or {}
    same = all(str(field(metadata, k) or "") == v for k, v in wanted.items())
    return membership.checkout_url if field(session, "status") == "open" and same else None


def start_join_checkout(
    contact: Contact,
    plan: Plan,
    *,
    donation: int,
    gift_aid: bool,
    email_updates: bool,
    details: str = "",
    email_appeals: bool = False,
) -> Checkout:
    """One pending membership and one Checkout Session, however many times Join is pressed.

    `details` fingerprints the contact's details: corrected details make a new session (and
    rename the Stripe Customer). Raises lifecycle.AlreadyMember for a current member,
    GatewayError when Stripe fails.
    """
    membership = lifecycle.current_membership(contact.id)
    if (
        membership is None
        or membership.status != "pending"
        or membership.plan_id != plan.id
        or membership.auto_renew != plan.recurring
    ):
        # Only when the caller has not made it already: start_pending writes, and the Stripe
        # calls below must not run inside a write transaction.
        membership = lifecycle.start_pending(contact, plan, auto_renew=plan.recurring)
    metadata = {
        "contact_id": str(contact.id),
        "membership_id": str(membership.id),
        "plan_id": str(plan.id),
        "kind": "membership",
        "donation": str(donation),
        "gift_aid": "1" if gift_aid else "0",
        "email_updates": "1" if email_updates else "0",
        "email_appeals": "1" if email_appeals else "0",
    }
    if details:
        metadata["details"] = details
    reuse = _reusable_session(membership, metadata)
    if reuse:
        return Checkout(url=reuse, session_id=membership.stripe_checkout_session_id or "")
    if details and membership.stripe_checkout_session_id:
        gateway.update_customer_name(contact)
    customer_id = gateway.ensure_customer(contact)
    line_items: list[dict[str, Any]] = [{"price": ensure_plan_price(plan), "quantity": 1}]
    if donation:
        line_items.append(_donation_line(donation, plan.currency))
    success_url, cancel_url = _urls()
    key = _idempotency_key(
        f"join-{membership.id}",
        {
            **metadata,
            "amount": plan.amount,
            "price": plan.stripe_price_id,
            "previous": membership.stripe_checkout_session_id,
        },
    )
    ids = {k: metadata[k] for k in ("contact_id", "membership_id", "plan_id", "kind")}
    session = gateway.create_checkout_session(
        mode="subscription" if plan.recurring else "payment",
        customer_id=customer_id,
        line_items=line_items,
        metadata=metadata,
        subscription_metadata=ids if plan.recurring else None,
        payment_intent_metadata=None if plan.recurring else ids,
        success_url=success_url,
        cancel_url=cancel_url,
        idempotency_key=key,
        payment_methods=direct_debit.payment_methods_for(plan.currency),
    )
    membership.stripe_checkout_session_id = session.id
    membership.checkout_url = session.url
    db.session.flush()
    return Checkout(url=session.url, session_id=session.id)


def start_donation_checkout(
    contact: Contact,
    *,
    amount: int,
    gift_aid: bool,
    email_updates: bool,
    nonce: str,
    frequency: str = "once",
    cover_fee: bool = False,
    email_appeals: bool = False,
) -> Checkout:
    """A donation, one-off or regular ("month"/"year": its own subscription, no membership);
    `nonce` comes from the form, so a double submit makes one session."""
    currency = current_app.config["CURRENCY"]
    if cover_fee:
        amount += donations.card_fee_cover(amount)
    metadata = {
        "contact_id": str(contact.id),
        "kind": "donation",
        "donation": str(amount),
        "frequency": frequency,
        "gift_aid": "1" if gift_aid else "0",
        "email_updates": "1" if email_updates else "0",
        "email_appeals": "1" if email_appeals else "0",
    }
    customer_id = gateway.ensure_customer(contact)
    success_url, cancel_url = _urls()
    regular = frequency in ("month", "year")
    line = _donation_line(amount, currency)
    if regular:
        line["price_data"]["recurring"] = {"interval": frequency}
        line["price_data"]["product_data"]["name"] = f"Regular donation to {current_app.config['ORG_NAME']}"
    session = gateway.create_checkout_session(
        mode="subscription" if regular else "payment",
        customer_id=customer_id,
        line_items=[line],
        metadata=metadata,
        subscription_metadata={"contact_id": str(contact.id), "kind": "regular_donation"} if regular else None,
        payment_intent_metadata=None if regular else {"contact_id": str(contact.id), "kind": "donation"},
        success_url=success_url,
        cancel_url=cancel_url.replace("/join?", "/donate?"),
        idempotency_key=_idempotency_key(f"donate-{contact.id}", {**metadata, "nonce": nonce}),
    )
    return Checkout(url=session.url, session_id=session.id)


def new_form_nonce() -> str:
    return secrets.token_urlsafe(16)


# --- fulfilment: the success page and the webhook both run this ---------------------------------


def _record_declarations(contact: Contact, metadata: Any, *, source: str) -> None:
    """The Gift Aid declaration and email consent ticked on the form, now that payment proved them."""
    org = current_app.config["ORG_NAME"]
    now = utcnow()
    if str(field(metadata, "gift_aid") or "") == "1":
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
                    wording=gift_aid_wording(org),
                    source=source,
                    house=contact.address_line1,
                    postcode=contact.postcode,
                )
            )
    # "email_updates" = news (older sessions ticked one box for both); "email_appeals" = appeals.
    chosen = {("email", "news"): str(field(metadata, "email_updates") or "") == "1",
              ("email", "appeals"): str(field(metadata, "email_appeals") or "") == "1"}  # fmt: skip
    consent.record_choices(contact, {pair: True for pair, yes in chosen.items() if yes}, source=source, org=org)
    db.session.flush()


def _ours(session: Any) -> tuple[Contact | None, Membership | None, Plan | None]:
    """The local rows a session names; (None, ...) when it is not one of ours."""
    metadata = field(session, "metadata") or {}
    try:
        contact_id = int(field(metadata, "contact_id") or 0)
        membership_id = int(field(metadata, "membership_id") or 0)
        plan_id = int(field(metadata, "plan_id") or 0)
    except (TypeError, ValueError):
        return None, None, None
    contact = db.session.get(Contact, contact_id) if contact_id else None
    if contact is None:
        return None, None, None
    customer = id_of(field(session, "customer"))
    if contact.stripe_customer_id and customer and customer != contact.stripe_customer_id:
        return None, None, None
    if field(metadata, "kind") == "donation":
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


#: How close to the end of the paid period "Renew now" is offered (in grace: always).
RENEWAL_WINDOW = timedelta(days=60)


def can_renew_now(membership: Membership | None) -> bool:
    """A fixed-term membership (not renewing automatically) that is current, has an end date and
    is near it: someone paid up for months is not asked to pay again."""
    return (
        membership is not None
        and membership.status in ("active", "grace")
        and membership.paid_through is not None
        and not membership.auto_renew
        and membership.plan.active
        and (membership.status == "grace" or membership.paid_through - utcnow() <= RENEWAL_WINDOW)
    )


def renewal_period(membership: Membership) -> tuple[datetime, datetime | None]:
    """The period "Renew now" buys: from the paid-through date (or today, once it has passed)."""
    start = max(membership.paid_through or utcnow(), utcnow())
    return start, lifecycle.period_end(membership.plan, start)


def renewal_period_label(membership: Membership) -> str:
    from crm.i18n.formatting import format_date

    start, end = renewal_period(membership)
    return f"{format_date(start)} to {format_date(end)}" if end else f"from {format_date(start)}"


def start_renewal_checkout(membership: Membership) -> Checkout:
    """Pay one more period of the current plan now; the period follows on from the paid-through date."""
    if not can_renew_now(membership):
        raise ValueError("This membership cannot be renewed online.")
    plan = membership.plan
    contact = membership.contact
    ensure_plan_price(plan)
    metadata = {
        "contact_id": str(contact.id),
        "membership_id": str(membership.id),
        "plan_id": str(plan.id),
        "kind": "renewal",
        # The period this payment buys: a payment for a period already bought is not applied.
        "through": membership.paid_through.isoformat() if membership.paid_through else "",
    }
    customer_id = gateway.ensure_customer(contact)
    success_url, _cancel = _urls()
    session = gateway.create_checkout_session(
        mode="payment",
        customer_id=customer_id,
        line_items=[
            {
                "price_data": {
                    "currency": plan.currency,
                    "unit_amount": plan.amount,
                    "product_data": {
                        "name": f"{plan.name} membership renewal, {renewal_period_label(membership)}",
                        "metadata": {
                            "crm_line": paid_for.RENEWAL_LINE,
                            "plan_id": str(plan.id),
                            "crm_sig": paid_for.line_signature(paid_for.RENEWAL_LINE, plan.id, plan.amount),
                        },
                    },
                },
                "quantity": 1,
            }
        ],
        metadata=metadata,
        subscription_metadata=None,
        payment_intent_metadata=metadata,
        success_url=success_url,
        cancel_url=f"{current_app.config['BASE_URL']}/account?renewal=cancelled",
        # One session per membership period: pressing Renew twice reuses it.
        idempotency_key=_idempotency_key(
            f"renew-{membership.id}", {**metadata, "amount": plan.amount}
        ),
    )
    return Checkout(url=session.url, session_id=session.id)


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


def _period_still_unbought(membership: Membership, metadata: Any) -> bool:
    """The renewal was started for the paid-through date the membership still has."""
    through = str(field(metadata, "through") or "")
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


def fulfil_checkout_session(session: Any, *, stripe_event_id: str | None = None) -> str:
    """Apply a completed, paid Checkout Session once: 'activated', 'donation', 'already', 'unpaid', 'ignored'."""
    if field(session, "payment_status") not in ("paid", "no_payment_required"):
        return "unpaid"
    contact, membership, plan = _ours(session)
    if contact is None:
        return "ignored"
    kind = "donation" if membership is None else "membership"
    if membership is not None and plan is not None and plan.id != membership.plan_id:
        return "ignored"  # a tampered session: metadata does not match our record
    amount = int(field(session, "amount_total") or 0)
    subscription = field(session, "subscription")
    sub_id = id_of(subscription)
    invoice_id = id_of(field(session, "invoice"))
    intent_id = id_of(field(session, "payment_intent"))
    paid_at = timestamp(field(session, "created")) or utcnow()
    try:
        claimed_donation = int(field(field(session, "metadata") or {}, "donation") or 0)
    except (TypeError, ValueError):
        return "ignored"
    renewal = str(field(field(session, "metadata") or {}, "kind") or "") == "renewal"
    bought = "renewal" if renewal else kind
    if not paid_for.session_pays_for(
        gateway.checkout_lines(session), kind=bought, plan=plan, donation=claimed_donation, amount_total=amount
    ):
        log.warning("checkout session %s: its line items do not pay for its metadata", field(session, "id"))
        return "ignored"
    # A donation added at join is its own payment (crm/billing/donations.py), Gift Aid eligible
    # on its own; the membership payment is eligible only on an eligible plan.
    donation = donations.paid_for_by_session(session) if membership is not None else 0
    gift_aid_eligible = membership is None or bool(plan and plan.gift_aid_eligible)

    if sub_id:
        sub = subscription if not isinstance(subscription, str) else gateway.retrieve_subscription(sub_id)
        if membership is not None:
            from crm.billing.webhook import subscription_is_ours

            if not subscription_is_ours(sub):
                return "ignored"
        if not invoice_id:
            invoice_id = id_of(field(sub, "latest_invoice"))

    payment, created = record_stripe_payment(
        contact_id=contact.id,
        membership_id=membership.id if membership else None,
        kind=kind,
        amount=amount,
        currency=str(field(session, "currency") or "gbp"),
        paid_at=paid_at,
        invoice_id=invoice_id if sub_id else None,
        payment_intent_id=intent_id,
        checkout_session_id=str(field(session, "id")),
        gift_aid_eligible=gift_aid_eligible,
    )
    if donation:
        donations.record_donation_part(payment, total=amount, donation=donation)
        amount = payment.amount
    if membership is not None and renewal:
        if created and plan is not None:  # applied once: the payment row is the guard
            if _period_still_unbought(membership, field(session, "metadata") or {}):
                _apply_renewal(membership, plan, amount, stripe_event_id)
            else:
                _record_second_renewal(membership, payment.id)
    elif membership is not None:
        _activate_for_session(
            membership, plan, sub_id, sub if sub_id else None, amount, paid_at, stripe_event_id
        )
    # Idempotent, and run even when invoice.paid recorded the payment first.
    _record_declarations(contact, field(session, "metadata") or {}, source="join" if membership else "donate")
    if created:
        queue_receipt(payment)
        return "donation" if membership is None else "activated"
    return "already"


def _activate_for_session(
    membership: Membership,
    plan: Plan | None,
    sub_id: str | None,
    sub: Any,
    amount: int,
    paid_at: datetime,
    stripe_event_id: str | None,
) -> None:
    if sub_id and membership.stripe_subscription_id != sub_id:
        taken = db.session.scalar(select(Membership.id).where(Membership.stripe_subscription_id == sub_id))
        if taken is None:
            membership.stripe_subscription_id = sub_id
    if sub is not None:
        start, end = gateway.subscription_period(sub)
    else:
        start, end = paid_at, None if plan is None else lifecycle.period_end(plan, paid_at)
    if membership.status in ("active", "grace", "suspended") and membership.joined_at is not None:
        if sub is None:
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
