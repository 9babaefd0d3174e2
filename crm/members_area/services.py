"""The rules behind the member's own pages. Every lookup takes the signed-in member's contact id.

Services flush, never commit: the route commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.accounts.models import User
from crm.audit.services import record
from crm.billing import stripe_gateway as gateway
from crm.billing.models import Payment
from crm.contacts import consent
from crm.contacts.models import Contact
from crm.contacts.services import NAME_AND_ADDRESS_FIELDS, email_key
from crm.core.types import utcnow
from crm.email.services import queue_email
from crm.extensions import db
from crm.join.services import PAYMENT_PROBLEMS
from crm.members_area import access
from crm.members_area.erasure import erase_contact as erase_contact  # staff call it from here
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipEvent, MembershipStatus

#: The contact fields a member may change themselves (nothing else is ever assigned from a form).
EDITABLE_FIELDS = NAME_AND_ADDRESS_FIELDS


class AccountActionError(Exception):
    """A member action that could not be done; `user_message` is safe to show."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class StaleRecordError(AccountActionError):
    def __init__(self) -> None:
        super().__init__(
            _(
                "This record changed since you opened the form (perhaps in another tab, or by our staff). "
                "We have loaded the latest details: please check them and make your change again."
            )
        )


# --- The membership card -------------------------------------------------------------------


@dataclass(frozen=True)
class MembershipCard:
    membership: Membership | None
    has_access: bool
    #: "Renews on", "Ends on", "Grace until", "Expired on", or "" (life, complimentary, none).
    date_label: str
    date: datetime | None
    #: The membership events that led to its state, oldest first.
    explanation: list[MembershipEvent]

    @property
    def paid_by(self) -> Contact | None:
        """The other adult who pays for this joint membership (its card and payments are theirs)."""
        m = self.membership
        return m.joint_primary.contact if m is not None and m.joint_primary is not None else None

    @property
    def joint_with(self) -> Contact | None:
        """The other adult of a joint membership, whichever of the two this is."""
        m = self.membership
        if m is None:
            return None
        return self.paid_by or (m.joint_follower.contact if m.joint_follower is not None else None)

    @property
    def can_cancel_auto_renew(self) -> bool:
        m = self.membership
        return bool(
            m
            and m.auto_renew
            and m.status in (MembershipStatus.ACTIVE, MembershipStatus.GRACE)
            and m.plan.recurring
            and not self.paid_by
        )

    @property
    def can_resume_auto_renew(self) -> bool:
        m = self.membership
        return bool(
            m
            and not m.auto_renew
            and m.status == MembershipStatus.ACTIVE
            and m.plan.recurring
            and m.stripe_subscription_id
            and m.paid_through
            and m.paid_through > utcnow()
            and not self.paid_by
        )

    @property
    def needs_renewal(self) -> bool:
        """Lapsed, cancelled, expired, never paid or never joined: offer renew / rejoin."""
        m = self.membership
        return m is None or m.status in (
            MembershipStatus.PENDING,
            MembershipStatus.LAPSED,
            MembershipStatus.CANCELLED,
            MembershipStatus.EXPIRED,
        )


def membership_card(contact: Contact) -> MembershipCard:
    membership = access.latest_membership(contact.id)
    if membership is None:
        return MembershipCard(None, False, "", None, [])
    label, when = _card_date(membership)
    return MembershipCard(
        membership=membership,
        has_access=access.has_access(contact.id),
        date_label=label,
        date=when,
        explanation=access.status_explanation(membership),
    )


def _card_date(m: Membership) -> tuple[str, datetime | None]:
    if m.status in (MembershipStatus.LAPSED, MembershipStatus.CANCELLED, MembershipStatus.EXPIRED):
        return _("Expired on"), m.ended_at or m.paid_through
    if m.status == MembershipStatus.GRACE:
        return _("Grace period ends on"), m.grace_until or m.paid_through
    if m.paid_through is None:
        return "", None
    if m.auto_renew and m.plan.recurring:
        return _("Renews on"), m.paid_through
    return _("Ends on"), m.paid_through


# --- Payments and receipts -----------------------------------------------------------------


def payments_for(contact_id: int) -> list[Payment]:
    return list(
        db.session.scalars(
            select(Payment)
            .where(Payment.contact_id == contact_id)
            .options(selectinload(Payment.refunds))
            .order_by(Payment.paid_at.desc(), Payment.id.desc())
        )
    )


def payment_for(contact_id: int, payment_id: int) -> Payment | None:
    """One of the member's own payments; another member's id gives None (the route answers 404)."""
    if not 0 < payment_id <= 2**63 - 1:  # beyond any id a database column holds
        return None
    return db.session.scalar(
        select(Payment).where(Payment.id == payment_id, Payment.contact_id == contact_id)
    )


# --- Contact details and email preferences --------------------------------------------------


def email_in_use(email: str, contact_id: int) -> bool:
    return (
        db.session.scalar(
            select(Contact.id).where(Contact.email == email_key(email), Contact.id != contact_id)
        )
        is not None
    )


def update_contact_details(
    contact: Contact, data: dict[str, Any], *, form_version: int, actor: User
) -> list[str]:
    """Apply the editable fields (and the email, already checked) from `data`; returns what changed.

    `form_version` is the Contact.version the form was rendered from: a different current version
    means someone else saved in between, and nothing is changed.
    """
    if form_version != contact.version:
        raise StaleRecordError()
    changed: list[str] = []
    for name in EDITABLE_FIELDS:
        value = data.get(name) or ""
        if getattr(contact, name) != value:
            setattr(contact, name, value)
            changed.append(name)
    new_email = email_key(data.get("email"))
    if new_email and new_email != contact.email:
        contact.email = new_email
        changed.append("email")
    if changed:
        # Field names only: the values are personal data and the trail must survive an erasure.
        record(
            "member.self_update",
            target_type="contact",
            target_id=contact.id,
            contact_id=contact.id,
            after={"fields": changed},
            actor=actor,
        )
        db.session.flush()
    return changed


def set_preferences(
    contact: Contact,
    choices: dict[tuple[str, str], bool],
    wording: dict[tuple[str, str], str],
    language: str = "en",
) -> int:
    """The account page's boxes, each a consent record where it changed (with the box's words in
    the page's `language`). Returns how many changed."""
    return sum(
        consent.record_consent(
            contact,
            channel,
            purpose,
            granted,
            source="account",
            wording=wording[(channel, purpose)],
            language=language,
        )
        is not None
        for (channel, purpose), granted in choices.items()
    )


def set_email_consent(contact: Contact, granted: bool, *, wording: str, source: str = "account") -> bool:
    """Record a change of the email news consent; returns False when nothing changed."""
    return (
        consent.record_consent(contact, "email", "news", granted, source=source, wording=wording) is not None
    )


# --- Auto-renewal and the Stripe Customer Portal --------------------------------------------


def _stripe_problem(error: gateway.GatewayError) -> str:
    """What a failed Stripe call means for the member, in their language (the gateway's is English)."""
    return str(PAYMENT_PROBLEMS.get(error.kind) or error.user_message)


def portal_url(contact: Contact) -> str:
    """A Stripe Customer Portal session for this member, returning to their account page."""
    if not contact.stripe_customer_id:
        raise AccountActionError(_("There is no card on file for your membership."))
    return_url = current_app.config["BASE_URL"] + "/account"
    try:
        return str(gateway.create_portal_session(contact.stripe_customer_id, return_url=return_url))
    except gateway.GatewayError as error:
        raise AccountActionError(_stripe_problem(error)) from error


def _idempotency_key(m: Membership, flag: bool) -> str:
    # Changes with each state change of the membership, so cancel -> resume -> cancel is three calls,
    # while a double-submitted form repeats the same key.
    stamp = int((m.updated_at or m.created_at).timestamp() * 1000)
    return f"auto-renew:{m.id}:{int(flag)}:{stamp}"


def access_ends_on(membership: Membership) -> datetime | None:
    """When a membership that will not renew stops giving members' access: the end of its grace
    period while in grace, else the end of the period paid for."""
    if membership.status == MembershipStatus.GRACE and membership.grace_until is not None:
        return membership.grace_until
    return membership.paid_through


def set_auto_renew(membership: Membership, on: bool, *, actor: User) -> bool:
    """Turn auto-renewal off (effective at period end) or back on; returns False if already so."""
    if membership.auto_renew == on:
        return False
    if membership.stripe_subscription_id:
        try:
            gateway.set_cancel_at_period_end(
                membership.stripe_subscription_id,
                not on,
                idempotency_key=_idempotency_key(membership, not on),
            )
        except gateway.GatewayError as error:
            raise AccountActionError(_stripe_problem(error)) from error
    reason = "member turned auto-renewal back on" if on else "member cancelled auto-renewal"
    lifecycle.set_auto_renew(membership, on, actor=actor, reason=reason)
    if not on:
        contact = membership.contact
        queue_email(
            contact.email,
            "cancellation_confirmed",
            {
                "name": contact.first_name or contact.display_name,
                "plan_name": membership.plan.name,
                "plan_name_es": membership.plan.name_es,
                # In grace the paid-for period is over: access ends with the grace period.
                "ends_on": access_ends_on(membership),
            },
            contact_id=contact.id,
        )
    db.session.flush()
    return True


# --- Erasure (confirmed by staff: see crm/members_area/erasure.py) ----------------------------


def request_erasure(contact: Contact, *, actor: User) -> bool:
    if contact.erasure_requested_at is not None:
        return False
    contact.erasure_requested_at = utcnow()
    record(
        "erasure.requested", target_type="contact", target_id=contact.id, contact_id=contact.id, actor=actor
    )
    db.session.flush()
    return True
