"""The member's own Gift Aid: their declarations, what each receipt says about Gift Aid, declaring
and cancelling from the account page. Every lookup takes the signed-in member's contact id.

Services flush, never commit: the route commits once.
"""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from crm.accounts.models import User
from crm.audit.services import record
from crm.billing.models import Payment
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.core.types import utcnow
from crm.extensions import db


def declarations_for(contact_id: int) -> list[GiftAidDeclaration]:
    return list(
        db.session.scalars(
            select(GiftAidDeclaration)
            .where(GiftAidDeclaration.contact_id == contact_id)
            .order_by(GiftAidDeclaration.declared_at.desc(), GiftAidDeclaration.id.desc())
        )
    )


def active_declaration(contact_id: int) -> GiftAidDeclaration | None:
    return db.session.scalar(
        select(GiftAidDeclaration)
        .where(GiftAidDeclaration.contact_id == contact_id, GiftAidDeclaration.cancelled_at.is_(None))
        .order_by(GiftAidDeclaration.id.desc())
        .limit(1)
    )


def gift_aid_status(payment: Payment, declarations: list[GiftAidDeclaration]) -> str:
    """What the receipt says about Gift Aid on this payment."""
    if payment.gift_aid_claim_id:
        return _("Gift Aid claimed from HMRC")
    if not payment.gift_aid_eligible:
        return _("Not eligible for Gift Aid")
    when = payment.paid_at or payment.created_at
    for d in declarations:
        covers_start = d.valid_from <= when
        covers_end = d.cancelled_at is None or when < d.cancelled_at
        if covers_start and covers_end:
            return _("Covered by your Gift Aid declaration")
    return _("No Gift Aid declaration covers this payment")


def declare_gift_aid(
    contact: Contact, *, house: str, postcode: str, wording: str, actor: User, language: str = "en"
) -> GiftAidDeclaration:
    """A new declaration covering the past four years and the future (HMRC's enduring wording),
    recorded as shown: `wording` in `language`."""
    existing = active_declaration(contact.id)
    if existing is not None:
        return existing
    now = utcnow()
    declaration = GiftAidDeclaration(
        contact_id=contact.id,
        declared_at=now,
        valid_from=now - timedelta(days=4 * 366),
        wording=wording,
        language=language,
        source="account",
        house=house,
        postcode=postcode,
    )
    db.session.add(declaration)
    db.session.flush()
    record(
        "gift_aid.declared",
        target_type="gift_aid_declaration",
        target_id=declaration.id,
        contact_id=contact.id,
        actor=actor,
    )
    return declaration


def cancel_gift_aid(contact: Contact, declaration_id: int, *, actor: User) -> bool:
    declaration = db.session.scalar(
        select(GiftAidDeclaration).where(
            GiftAidDeclaration.id == declaration_id,
            GiftAidDeclaration.contact_id == contact.id,
            GiftAidDeclaration.cancelled_at.is_(None),
        )
    )
    if declaration is None:
        return False
    declaration.cancelled_at = utcnow()
    record(
        "gift_aid.cancelled",
        target_type="gift_aid_declaration",
        target_id=declaration.id,
        contact_id=contact.id,
        actor=actor,
    )
    db.session.flush()
    return True
