"""Rules about contacts that several areas share (join, account, staff, import, events, billing).

Owns the contact's fields, its preferred language and the one email-address rule of the app:
`normalise_email` (the check every form and the import use, and the stored form), `email_key`
(the stored form for finding a row, which never refuses). Internationalised addresses (RFC 6531,
`josé@example.org`) are accepted when the mail server can deliver them (`MAIL_SMTPUTF8`, on by
default: console email and most modern servers), and refused otherwise with a message that says
why, rather than "not valid". Consent is written by crm/contacts/consent.py.
"""

from __future__ import annotations

import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from flask import current_app, has_app_context
from flask_babel import gettext
from sqlalchemy import inspect as sa_inspect

from crm.contacts.models import Contact
from crm.core.languages import DEFAULT_LANGUAGE, normalise_language

NAME_FIELDS = ("title", "first_name", "last_name")
#: The postal address: what the second adult of a joint plan shares with the payer.
ADDRESS_FIELDS = ("address_line1", "address_line2", "town", "postcode", "country")
#: The one list of a contact's name, address and phone: what a member edits on their details page.
NAME_AND_ADDRESS_FIELDS = (*NAME_FIELDS, *ADDRESS_FIELDS, "phone")
#: What erasure blanks: everything there that identifies the person (the country does not).
IDENTIFYING_FIELDS = tuple(name for name in NAME_AND_ADDRESS_FIELDS if name != "country")
#: Those and the preferred language: what the join form, the import and corrections write.
PERSONAL_FIELDS = (*NAME_AND_ADDRESS_FIELDS, "preferred_language")


def max_length(name: str) -> int | None:
    """The longest value the contact's `name` column holds (None when it has no limit)."""
    return getattr(sa_inspect(Contact).columns[name].type, "length", None)


def set_preferred_language(contact: Contact, language: str | None) -> None:
    """The language of the site (when signed in) and of every email to this contact."""
    contact.preferred_language = normalise_language(language) or DEFAULT_LANGUAGE


# --- email addresses -------------------------------------------------------------------------

MAX_LENGTH = 254
#: The common shape of a plain ASCII address (dot-separated atoms, a dotted domain whose last label
#: is letters): email_validator accepts every one of these as it is, so they skip its work (a
#: 100,000-row import checks 100,000 addresses). Anything else gets the full check below.
_PLAIN = re.compile(
    r"(?=[^@]{1,64}@)"  # a local part of at most 64 characters
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:(?![A-Za-z0-9-]{2}--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63})"  # no "ab--" label (IDNA)
)


def _plain_address(text: str) -> bool:
    match = _PLAIN.fullmatch(text)
    return match is not None and match.group(1).lower() not in SPECIAL_USE_DOMAIN_NAMES


class EmailAddressError(ValueError):
    """Why an address is refused, in words for the person who typed it."""


def smtputf8_supported() -> bool:
    return bool(current_app.config.get("MAIL_SMTPUTF8", True)) if has_app_context() else True


def normalise_email(value: str | None) -> str:
    """The address as we store it (trimmed, Unicode NFC, lower-cased), or EmailAddressError."""
    text = (value or "").strip()
    if not text:
        raise EmailAddressError(gettext("Enter your email address."))
    if len(text) > MAX_LENGTH:
        raise EmailAddressError(gettext("The email address must be 254 characters or fewer."))
    if _plain_address(text):
        return text.lower()
    smtputf8 = smtputf8_supported()
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=smtputf8)
    except EmailNotValidError as error:
        local = text.rpartition("@")[0]
        if not smtputf8 and local and not local.isascii():
            raise EmailAddressError(
                gettext(
                    "Our mail server cannot deliver to an address with accents or other non-English "
                    "letters before the @ (like josé@example.org). Please give another address."
                )
            ) from error
        raise EmailAddressError(gettext("Enter an email address like name@example.org.")) from error
    return result.normalized.lower()


def email_problem(value: str | None) -> str | None:
    """Why `value` is not an address we can use, or None."""
    try:
        normalise_email(value)
    except EmailAddressError as error:
        return str(error)
    return None


def email_key(value: str | None) -> str:
    """The address as `normalise_email` stores it, for finding or keying a row (a contact, an
    account, a booking, a suppression); never refuses: an address that could not be stored finds
    nobody."""
    try:
        return normalise_email(value)
    except EmailAddressError:
        return (value or "").strip().lower()
