"""Email goes through `queue_email`: it renders the message and writes it to the outbox in the
caller's transaction. Delivery happens after commit (see crm/email/delivery.py)."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, render_template
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import TemplateNotFound
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.email import delivery  # noqa: F401  (registers the after-commit delivery hook)
from crm.email.models import ONE_TIME_LINK_PLACEHOLDER, OutboxMessage
from crm.extensions import db

#: Kinds that are not transactional: only to contacts who consented, with an unsubscribe link.
MARKETING_KINDS = frozenset({"news_post"})

_UNSUBSCRIBE_SALT = "crm.email.unsubscribe"

#: A path segment that looks like a token (signed or random) in a link under any host.
_TOKEN_IN_LINK = re.compile(r"(https?://[^\s\"'<>]*/)[A-Za-z0-9_\-.]{20,}")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(contact: Contact) -> str:
    """A signed token naming the contact; it never expires (old emails keep working)."""
    return _serializer().dumps({"c": contact.id})


def contact_for_unsubscribe_token(token: str) -> Contact | None:
    """The contact a token names, or None for a forged, damaged or unknown one."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        return None
    return db.session.get(Contact, data["c"])


def unsubscribe_url(contact: Contact) -> str:
    """The page (no sign-in needed) where the contact confirms they want no more updates."""
    return f"{current_app.config['BASE_URL']}/email/unsubscribe/{unsubscribe_token(contact)}"


def one_click_unsubscribe_url(contact: Contact) -> str:
    """The RFC 8058 List-Unsubscribe target that mail clients POST to."""
    return f"{unsubscribe_url(contact)}/one-click"


def _marketing_contact(to: str, contact_id: int | None) -> Contact | None:
    """The contact a marketing email is for, only when they have consented to email updates."""
    if contact_id is not None:
        contact = db.session.get(Contact, contact_id)
    else:
        contact = db.session.scalar(select(Contact).where(Contact.email == to.strip().lower()))
    if contact is None or not contact.email_consent or contact.erased_at is not None:
        return None
    return contact


def render_email(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject from the "Subject:" first line or "", text body, HTML body or "")."""
    ctx = {
        "org_name": current_app.config["ORG_NAME"],
        "base_url": current_app.config["BASE_URL"],
        "org_address": current_app.config["ORG_ADDRESS"],
        **context,
    }
    text = render_template(f"email/{kind}.txt", **ctx)
    subject = ""
    first, _, rest = text.partition("\n")
    if first.startswith("Subject:"):
        subject = first[len("Subject:") :].strip()
        text = rest.lstrip("\n")
    try:
        html = render_template(f"email/{kind}.html", **ctx)
    except TemplateNotFound:  # an HTML part is optional
        html = ""
    return subject, text, html


def queue_email(
    to: str,
    kind: str,
    context: dict[str, Any] | None = None,
    *,
    contact_id: int | None = None,
    dedupe_key: str | None = None,
    subject: str | None = None,
    marketing: bool = False,
    one_time_link: str | None = None,
) -> OutboxMessage | None:
    """Render templates/email/<kind>.txt (and .html when present) and add it to the outbox.

    With a `dedupe_key`, a message already queued under that key is not queued again (returns None).
    The template's first line, "Subject: ...", gives the subject unless `subject` is passed.
    Marketing mail (`marketing=True`, or a kind in MARKETING_KINDS) goes only to a contact who
    consented (else returns None) and carries an unsubscribe link and List-Unsubscribe headers.
    `one_time_link` names the context key holding a sign-in, reset or set-password link: the
    stored bodies get ONE_TIME_LINK_PLACEHOLDER and the link is kept only until the email is sent.
    """
    if dedupe_key and db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    ):
        return None
    ctx = dict(context or {})
    headers: dict[str, str] = {}
    if marketing or kind in MARKETING_KINDS:
        contact = _marketing_contact(to, contact_id)
        if contact is None:
            return None
        contact_id = contact.id
        ctx["unsubscribe_url"] = unsubscribe_url(contact)
        headers["List-Unsubscribe"] = f"<{one_click_unsubscribe_url(contact)}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    live_link = None
    if one_time_link is not None:
        live_link, ctx[one_time_link] = str(ctx[one_time_link]), ONE_TIME_LINK_PLACEHOLDER
    template_subject, text, html = render_email(kind, ctx)
    message = OutboxMessage(
        to_email=to,
        kind=kind,
        subject=(subject or template_subject or kind.replace("_", " ").capitalize())[:250],
        body_text=text,
        body_html=html,
        one_time_link=live_link,
        headers=headers,
        contact_id=contact_id,
        dedupe_key=dedupe_key,
    )
    db.session.add(message)
    db.session.flush()
    return message


def safe_summary(text: str) -> str:
    """A stored body as staff may read it: any token-like link segment (also in rows written before
    one-time links were kept apart, and signed links such as unsubscribe) is shown as [removed]."""
    return _TOKEN_IN_LINK.sub(r"\1[removed]", text or "")


def holds_spent_link(message: OutboxMessage) -> bool:
    """True when the message carried a one-time link that was cleared once sent: resending it
    would send a dead link, so the person asks for a new one instead."""
    return message.one_time_link is None and ONE_TIME_LINK_PLACEHOLDER in (message.body_text or "")
