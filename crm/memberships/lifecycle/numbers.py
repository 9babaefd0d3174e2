"""Membership numbers: assigned once, at a contact's first activation (or by the import)."""

from __future__ import annotations

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.extensions import db


def member_number_for(contact_id: int) -> str:
    """A member's number: M + the contact id zero-padded to 6 digits (the import writes the same in SQL)."""
    return f"M{contact_id:06d}"


def assign_member_number(contact: Contact) -> str:
    """The contact's membership number, assigned once (M + zero-padded contact id)."""
    if contact.member_number:
        return contact.member_number
    candidate, n = member_number_for(contact.id), 1
    while db.session.scalar(select(Contact.id).where(Contact.member_number == candidate)):
        n += 1
        candidate = f"{member_number_for(contact.id)}-{n}"
    contact.member_number = candidate
    db.session.flush()
    return candidate
