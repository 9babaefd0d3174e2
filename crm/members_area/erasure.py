"""Erasure ("forget me"), once staff confirm the member's request: the contact is anonymised,
payment rows are kept for the accounts. An auto-renewing Stripe subscription is cancelled first,
so nobody is charged after being forgotten; if Stripe refuses, nothing is erased. Of a joint
membership's two adults, the other keeps their membership (memberships/lifecycle/joint.py)."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from crm.accounts.models import AuthToken, User
from crm.audit.models import AuditEvent
from crm.audit.services import record
from crm.billing import stripe_gateway
from crm.contacts import consent
from crm.contacts.models import Contact, GiftAidDeclaration, Note
from crm.contacts.services import IDENTIFYING_FIELDS
from crm.core.types import utcnow
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import CURRENT_STATUSES, Membership

log = logging.getLogger("crm.members_area")


class ErasureError(Exception):
    """The erasure was refused before anything changed; the message is for the member of staff."""

    @property
    def message(self) -> str:
        return str(self.args[0])


def erase_contact(contact: Contact, *, actor: User) -> None:
    """Anonymise a contact (staff confirm an erasure request). Payment rows are kept for the
    accounts, pointing at the anonymised contact; everything that names the person is blanked."""
    if contact.erased_at is not None:
        return
    cancelled = _cancel_renewing_subscriptions(contact, actor)
    lifecycle.end_joint_link(contact, reason="joint membership ended on erasure")
    now = utcnow()
    old_email = contact.email
    placeholder = f"erased-{contact.id}@invalid"
    for name in IDENTIFYING_FIELDS:
        setattr(contact, name, "")
    contact.email = placeholder
    contact.erased_at = now
    consent.withdraw_everything(contact, source="erasure", wording="Withdrawn on erasure.", by=actor)

    user = contact.user
    if user is not None:
        user.disabled = True
        user.session_version += 1  # every open session ends at its next request
        user.password_hash = ""
        user.totp_secret = None
        user.totp_enabled = False
        user.recovery_codes = []
        db.session.execute(
            update(AuthToken)
            .where(AuthToken.user_id == user.id, AuthToken.used_at.is_(None))
            .values(used_at=now)
        )
    db.session.execute(
        update(AuthToken)
        .where(AuthToken.contact_id == contact.id, AuthToken.used_at.is_(None))
        .values(used_at=now)
    )
    db.session.execute(update(Note).where(Note.contact_id == contact.id).values(body="[erased]"))
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.contact_id == contact.id)
        .values(
            to_email=placeholder,
            subject="[erased]",
            body_text="",
            body_html="",
            headers={},
            one_time_link=None,
        )
    )
    db.session.execute(
        update(GiftAidDeclaration)
        .where(GiftAidDeclaration.contact_id == contact.id)
        .values(house="", postcode="")
    )
    _scrub_audit_trail(contact.id, old_email, placeholder, user)
    db.session.flush()
    record(
        "erasure.completed",
        target_type="contact",
        target_id=contact.id,
        contact_id=contact.id,
        after={"subscriptions_cancelled": cancelled} if cancelled else None,
        actor=actor,
    )
    db.session.flush()


def _cancel_renewing_subscriptions(contact: Contact, actor: User) -> list[str]:
    """Cancel (in Stripe, then here) every current membership that renews through Stripe.

    Stripe is asked before any row changes, so a Stripe error raises ErasureError with nothing
    written. Returns the cancelled subscription ids, for the audit row.
    """
    renewing = db.session.scalars(
        select(Membership).where(
            Membership.contact_id == contact.id,
            Membership.status.in_(CURRENT_STATUSES),
            Membership.auto_renew.is_(True),
            Membership.stripe_subscription_id.is_not(None),
        )
    ).all()
    cancelled: list[str] = []
    for membership in renewing:
        sub_id = str(membership.stripe_subscription_id)
        try:
            stripe_gateway.cancel_subscription_now(
                sub_id, idempotency_key=f"erasure-cancel-{membership.id}-{sub_id}"
            )
        except stripe_gateway.GatewayError as error:
            if error.kind == "not_found":  # Stripe no longer has it: nothing is left to charge
                log.warning(
                    "erasure: subscription %s of membership %s not found in Stripe", sub_id, membership.id
                )
            else:
                raise ErasureError(
                    "Stripe did not cancel the member's subscription, so nothing was erased: "
                    f"{error.user_message}"
                ) from error
        # A joint membership's second adult keeps what was paid for (before the cancel, which
        # they would otherwise follow).
        lifecycle.end_joint_link(contact, reason="joint membership ended on erasure")
        lifecycle.cancel_now(membership, actor=actor, reason="cancelled on erasure")
        cancelled.append(sub_id)
    return cancelled


def _scrub_audit_trail(contact_id: int, old_email: str, placeholder: str, user: User | None) -> None:
    """The trail keeps what happened and when, but not the person's details."""
    db.session.execute(
        update(AuditEvent).where(AuditEvent.contact_id == contact_id).values(before=None, after=None)
    )
    db.session.execute(
        update(AuditEvent).where(AuditEvent.actor_label == old_email).values(actor_label=placeholder)
    )
    if user is not None:
        db.session.execute(
            update(AuditEvent).where(AuditEvent.actor_user_id == user.id).values(actor_label=placeholder)
        )
    for event in db.session.scalars(select(AuditEvent).where(AuditEvent.detail.contains(old_email))):
        event.detail = event.detail.replace(old_email, placeholder)
