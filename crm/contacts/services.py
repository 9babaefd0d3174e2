"""Rules about contacts that several areas share (join, account, staff, import)."""

from __future__ import annotations

from crm.contacts.models import Contact
from crm.core.languages import DEFAULT_LANGUAGE, normalise_language


def set_preferred_language(contact: Contact, language: str | None) -> None:
    """The language of the site (when signed in) and of every email to this contact."""
    contact.preferred_language = normalise_language(language) or DEFAULT_LANGUAGE
