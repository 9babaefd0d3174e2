"""Going back from Checkout to correct the join form.

The browser session keeps only ids and choices (which contact this join made, the plan, the
donation, the two ticks), never the person's name, address or email: those stay in the database.
A contact that this same join created, and that has paid nothing yet, takes the corrected
details; any other contact found by its email is left exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import session
from sqlalchemy import select

from crm.billing.models import Payment
from crm.contacts.models import Contact
from crm.contacts.services import ADDRESS_FIELDS
from crm.contacts.sources import ContactSource
from crm.extensions import db
from crm.join import services
from crm.memberships.models import Membership

#: The key in the browser session; its value holds ids and choices only.
SESSION_KEY = "join_draft"


#: What the second adult of a joint plan shares with the payer: the address (and, when new to us,
#: the language of their emails).
SHARED_FIELDS = (*ADDRESS_FIELDS, "preferred_language")


def details_digest(contact: Contact, partner: Contact | None = None) -> str:
    """A short fingerprint of the contact's details: a new one means a new Checkout Session."""
    values = {name: getattr(contact, name) or "" for name in services.CONTACT_FIELDS}
    if partner is not None:
        values.update(partner=partner.email, partner_name=partner.full_name)
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def _unpaid(contact: Contact) -> bool:
    """Nothing paid, no account and never a member: only the join that made it knows it."""
    if contact.user is not None or contact.member_number:
        return False
    paid = db.session.scalar(select(Payment.id).where(Payment.contact_id == contact.id).limit(1))
    if paid is not None:
        return False
    joined = db.session.scalar(
        select(Membership.id)
        .where(Membership.contact_id == contact.id, Membership.joined_at.is_not(None))
        .limit(1)
    )
    return joined is None


def _draft_contact_id() -> int | None:
    draft = session.get(SESSION_KEY) or {}
    return int(draft["contact_id"]) if draft.get("created") and draft.get("contact_id") else None


def _draft_partner_id() -> int | None:
    draft = session.get(SESSION_KEY) or {}
    return int(draft["partner_id"]) if draft.get("partner_created") and draft.get("partner_id") else None


def partner_for_join(email: str, details: dict[str, Any], payer: Contact) -> tuple[Contact, bool]:
    """The second adult of a joint plan, and whether this join created them (so may correct them).

    Someone new lives at the payer's address; someone we know is left exactly as they are."""
    wanted = {**{name: getattr(payer, name) for name in SHARED_FIELDS}, **details}
    existing = services.find_contact(email)
    if existing is None:
        return services.find_or_create_contact(email, wanted, source=ContactSource.JOIN), True
    if existing.id == _draft_partner_id() and _unpaid(existing):
        for name, value in wanted.items():
            setattr(existing, name, value or "")
        db.session.flush()
        return existing, True
    return existing, False


def partner_choice(partner: Contact | None, created: bool) -> dict[str, Any]:
    """The draft's note of the second adult: an id, never their name or email."""
    return {"partner_id": partner.id, "partner_created": created} if partner is not None else {}


def contact_for_join(
    email: str, details: dict[str, Any], *, own_contact_id: int | None
) -> tuple[Contact, bool]:
    """The contact this join pays for, and whether this join created it (so may correct it).

    A signed-in member's own blank fields are filled in; another existing contact is untouched.
    """
    existing = services.find_contact(email)
    if existing is None:
        return services.find_or_create_contact(email, details, source=ContactSource.JOIN), True
    if existing.id == _draft_contact_id() and _unpaid(existing):
        for name in services.CONTACT_FIELDS:
            if name in details:
                setattr(existing, name, details[name] or "")
        db.session.flush()
        return existing, True
    if existing.id == own_contact_id:
        for name in services.CONTACT_FIELDS:
            if details.get(name) and not getattr(existing, name):
                setattr(existing, name, details[name])
        db.session.flush()
    return existing, False


def remember(contact: Contact, created: bool, choices: dict[str, Any]) -> None:
    """What "back" from Checkout needs to restore the form, kept as ids and choices."""
    session[SESSION_KEY] = {"contact_id": contact.id, "created": created, **choices}


def restore() -> dict[str, Any]:
    """The form's values after "back": details only from a contact this join created and is unpaid."""
    draft = dict(session.get(SESSION_KEY) or {})
    contact = db.session.get(Contact, int(draft.pop("contact_id", 0) or 0))
    created = draft.pop("created", False)
    partner = db.session.get(Contact, int(draft.pop("partner_id", 0) or 0))
    partner_created = draft.pop("partner_created", False)
    if contact is None:
        return {}
    data = dict(draft)
    data["email"] = contact.email
    if created and _unpaid(contact):
        data.update({name: getattr(contact, name) for name in services.CONTACT_FIELDS})
    if partner is not None:
        data["partner_email"] = partner.email
        if partner_created and _unpaid(partner):
            data.update(partner_first_name=partner.first_name, partner_last_name=partner.last_name)
    return data


def forget() -> None:
    session.pop(SESSION_KEY, None)
