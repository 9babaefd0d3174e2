"""Rules about contacts that several areas share (join, account, staff, import)."""

from __future__ import annotations

from crm.contacts.models import Contact
from crm.core.languages import DEFAULT_LANGUAGE, normalise_language

#: The one list of a contact's name, address and phone: what a member edits on their details page.
NAME_AND_ADDRESS_FIELDS = (
    "title",
    "first_name",
    "last_name",
    "address_line1",
    "address_line2",
    "town",
    "postcode",
    "country",
    "phone",
)
#: What erasure blanks: everything there that identifies the person (the country does not).
IDENTIFYING_FIELDS = tuple(name for name in NAME_AND_ADDRESS_FIELDS if name != "country")
#: Those and the preferred language: what the join form, the import and corrections write.
PERSONAL_FIELDS = (*NAME_AND_ADDRESS_FIELDS, "preferred_language")


def set_preferred_language(contact: Contact, language: str | None) -> None:
    """The language of the site (when signed in) and of every email to this contact."""
    contact.preferred_language = normalise_language(language) or DEFAULT_LANGUAGE
