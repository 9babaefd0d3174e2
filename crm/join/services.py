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
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.billing import direct_debit, donations
from crm.billing import stripe_gateway as gateway
from crm.billing.services import insert_once
from crm.contacts.models import Contact
from crm.contacts.services import PERSONAL_FIELDS, email_key
from crm.core.types import utcnow
from crm.extensions import db
from crm.i18n import current_language
from crm.join import paid_for
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipStatus, Plan

log = logging.getLogger("crm.join")

CONTACT_FIELDS = PERSONAL_FIELDS


@dataclass
class Checkout:
    url: str
    session_id: str


def active_plans() -> list[Plan]:
    return list(
        db.session.scalars(select(Plan).where(Plan.active.is_(True)).order_by(Plan.display_order, Plan.id))
    )


def find_contact(email: str) -> Contact | None:
    return db.session.scalar(select(Contact).where(Contact.email == email_key(email)))


def find_or_create_contact(email: str, details: dict[str, Any], *, source: str) -> Contact:
    """A known email is reused as it is: an anonymous form may not write to someone's record
    (not even its blank fields); crm/join/corrections.py decides what a join may correct."""
    email = email_key(email)
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
            "plan has no price",
            user_message=gettext("That plan cannot be paid for online yet."),
            kind="no_price",
        )
    return plan.stripe_price_id


def _donation_line(amount: int, currency: str) -> dict[str, Any]:
    return {
        "price_data": {
            "currency": currency,
            "unit_amount": amount,
            "product_data": {
                "name": paid_for.donation_line_name(),
                "metadata": {"crm_line": paid_for.DONATION_LINE},
            },
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
        session = gateway.retrieve_checkout(membership.stripe_checkout_session_id)
    except gateway.GatewayError:
        return None
    same = all(session.metadata.get(k, "") == v for k, v in wanted.items())
    return membership.checkout_url if session.is_open and same else None


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
        or membership.status != MembershipStatus.PENDING
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
        # The language the form was read in: the Gift Aid and consent words are recorded in it.
        "lang": current_language(),
    }
    if details:
        metadata["details"] = details
    if membership.partner_contact_id:  # a joint plan: the second adult becomes a member when paid
        metadata["partner_contact_id"] = str(membership.partner_contact_id)
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
        "lang": current_language(),
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
        subscription_metadata={"contact_id": str(contact.id), "kind": "regular_donation"}
        if regular
        else None,
        payment_intent_metadata=None if regular else {"contact_id": str(contact.id), "kind": "donation"},
        success_url=success_url,
        cancel_url=cancel_url.replace("/join?", "/donate?"),
        idempotency_key=_idempotency_key(f"donate-{contact.id}", {**metadata, "nonce": nonce}),
    )
    return Checkout(url=session.url, session_id=session.id)


#: What a failed payment call means for the person paying, by the gateway's provider-neutral `kind`
#: (the gateway's own `user_message` is English; join's own errors, like "no_price", are translated).
PAYMENT_PROBLEMS = {
    "api": _l("Our payment provider could not complete that. Please try again later."),
    "declined": _l("Your card was declined. Please try another card."),
    "unreachable": _l("We could not reach our payment provider. Please try again in a few minutes."),
    "busy": _l("Our payment provider is busy. Please try again in a minute."),
    "config": _l("Payments are not available right now. Please try again later."),
    "invalid": _l("That payment could not be set up."),
    "not_found": _l("We could not find that payment record."),
}


def not_charged_message(error: gateway.GatewayError) -> str:
    """What a failed payment call means for the person paying, in their language (join, donate, renew)."""
    problem = PAYMENT_PROBLEMS.get(error.kind) or error.user_message
    return gettext("%(problem)s You have not been charged.", problem=str(problem))


def new_form_nonce() -> str:
    return secrets.token_urlsafe(16)


# --- fulfilment: the success page and the webhook both run this ---------------------------------


#: How close to the end of the paid period "Renew now" is offered (in grace: always).
RENEWAL_WINDOW = timedelta(days=60)


def can_renew_now(membership: Membership | None) -> bool:
    """A fixed-term membership (not renewing automatically) that is current, has an end date and
    is near it: someone paid up for months is not asked to pay again."""
    return (
        membership is not None
        and membership.joint_primary_id is None  # the second adult of a joint plan: the payer renews
        and membership.status in (MembershipStatus.ACTIVE, MembershipStatus.GRACE)
        and membership.paid_through is not None
        and not membership.auto_renew
        and membership.plan.active
        and (
            membership.status == MembershipStatus.GRACE
            or membership.paid_through - utcnow() <= RENEWAL_WINDOW
        )
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
        idempotency_key=_idempotency_key(f"renew-{membership.id}", {**metadata, "amount": plan.amount}),
    )
    return Checkout(url=session.url, session_id=session.id)
