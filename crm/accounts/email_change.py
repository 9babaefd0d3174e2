"""Changing a sign-in email: it takes effect only when the new address confirms (issue 26 item 14).

The link carries the new address, signed, and a random nonce whose SHA-256 is an AuthToken row
(purpose EMAIL_CHANGE): it expires after EMAIL_CHANGE_TTL, works once, and a newer request
replaces it. The old address is told at once, so a hijacked account cannot move quietly.
Functions flush; the caller commits.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from crm.accounts import tokens
from crm.audit.services import record
from crm.contacts.models import Contact
from crm.contacts.services import email_key
from crm.email.services import queue_email
from crm.extensions import db

EMAIL_CHANGE = "email_change"
EMAIL_CHANGE_TTL = timedelta(hours=24)
_SALT = "crm.accounts.email_change"


class EmailChangeError(Exception):
    """The change cannot be made; `str(error)` is for the person."""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _link(path: str) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}{path}"


def request_email_change(contact: Contact, new_email: str) -> None:
    """Email a confirmation link to `new_email` and tell the current address; nothing changes yet."""
    new_email = email_key(new_email)
    nonce = tokens.issue_token(EMAIL_CHANGE, contact=contact, ttl=EMAIL_CHANGE_TTL)
    token = _serializer().dumps({"c": contact.id, "e": new_email, "n": nonce})
    name = contact.first_name or "member"
    queue_email(
        new_email,
        "email_change_confirm",
        {"first_name": name, "confirm_url": _link(f"/account/email/confirm/{token}"), "hours": 24},
        contact_id=contact.id,
        one_time_link="confirm_url",
    )
    queue_email(
        contact.email,
        "email_change_notice",
        {
            "first_name": name,
            "new_email": new_email,
            "confirmed": False,
            "reset_url": _link("/password/reset"),
        },
        contact_id=contact.id,
    )
    record(
        "member.email_change_requested", target_type="contact", target_id=contact.id, contact_id=contact.id
    )
    db.session.flush()


def _read(token: str) -> tuple[Contact, str, str] | None:
    if not token or len(token) > 1000:
        return None
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), t) for k, t in (("c", int), ("e", str), ("n", str))
    ):
        return None
    contact = db.session.get(Contact, data["c"])
    if contact is None or contact.erased_at is not None:
        return None
    return contact, data["e"], data["n"]


def pending_change(token: str) -> tuple[Contact, str] | None:
    """The contact and new address a still-usable link names, without using it."""
    found = _read(token)
    if found is None or tokens.find_token(EMAIL_CHANGE, found[2]) is None:
        return None
    return found[0], found[1]


def confirm_email_change(token: str) -> Contact | None:
    """Use the link once: the sign-in email becomes the confirmed address; the old one is told.

    Returns None for a forged, used, replaced or expired link. Raises EmailChangeError when the
    address now belongs to another contact. Flushes.
    """
    found = _read(token)
    if found is None:
        return None
    contact, new_email, nonce = found
    used = tokens.find_token(EMAIL_CHANGE, nonce)
    if used is None or used.contact_id != contact.id:
        return None
    if db.session.scalar(select(Contact.id).where(Contact.email == new_email, Contact.id != contact.id)):
        raise EmailChangeError("That email address now belongs to another account, so it was not changed.")
    if tokens.consume_token(EMAIL_CHANGE, nonce) is None:
        return None
    old_email, contact.email = contact.email, new_email
    queue_email(
        old_email,
        "email_change_notice",
        {
            "first_name": contact.first_name or "member",
            "new_email": new_email,
            "confirmed": True,
            "reset_url": _link("/password/reset"),
        },
        contact_id=contact.id,
    )
    record(
        "member.email_changed",
        target_type="contact",
        target_id=contact.id,
        contact_id=contact.id,
        after={"fields": ["email"]},
        actor_label="email confirmation link",
    )
    db.session.flush()
    return contact
