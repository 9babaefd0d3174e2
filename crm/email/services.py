"""Email goes through `queue_email`: it renders the message and writes it to the outbox in the
caller's transaction. Delivery happens after commit (see crm/email/delivery.py)."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, render_template
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import TemplateNotFound
from sqlalchemy import func, select

from crm.contacts import consent
from crm.contacts.models import Contact
from crm.core.languages import normalise_language
from crm.email import delivery  # noqa: F401  (registers the after-commit delivery hook)
from crm.email.models import ONE_TIME_LINK_PLACEHOLDER, OutboxMessage
from crm.extensions import db

_UNSUBSCRIBE_SALT = "crm.email.unsubscribe"

#: A path segment that looks like a token (signed or random) in a link under any host.
_TOKEN_IN_LINK = re.compile(r"(https?://[^\s\"'<>]*/)[A-Za-z0-9_\-.]{20,}")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(contact: Contact, purpose: str | None = None) -> str:
    """A signed token naming the contact and the purpose the email was sent for; it never
    expires (old emails keep working). Without a purpose it withdraws every email purpose."""
    data: dict[str, Any] = {"c": contact.id}
    if purpose is not None:
        data["p"] = purpose
    return _serializer().dumps(data)


def read_unsubscribe_token(token: str) -> tuple[Contact, tuple[str, ...]] | None:
    """(contact, purposes to withdraw) for a token, or None for a forged, damaged or unknown one."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        return None
    purpose = data.get("p")
    if purpose is not None and purpose not in consent.PURPOSES:
        return None
    contact = db.session.get(Contact, data["c"])
    if contact is None:
        return None
    return contact, (purpose,) if purpose else consent.PURPOSES


def contact_for_unsubscribe_token(token: str) -> Contact | None:
    """The contact a token names, or None for a forged, damaged or unknown one."""
    found = read_unsubscribe_token(token)
    return found[0] if found else None


def unsubscribe_url(contact: Contact, purpose: str | None = None) -> str:
    """The page (no sign-in needed) where the contact confirms they want no more of these emails."""
    return f"{current_app.config['BASE_URL']}/email/unsubscribe/{unsubscribe_token(contact, purpose)}"


def one_click_unsubscribe_url(contact: Contact, purpose: str | None = None) -> str:
    """The RFC 8058 List-Unsubscribe target that mail clients POST to."""
    return f"{unsubscribe_url(contact, purpose)}/one-click"


def _marketing_contact(to: str, contact_id: int | None, purpose: str) -> Contact | None:
    """The contact a marketing email is for, only with their consent for `purpose` and no suppression."""
    if contact_id is not None:
        contact = db.session.get(Contact, contact_id)
    else:
        contact = db.session.scalar(select(Contact).where(Contact.email == to.strip().lower()))
    if contact is None or not consent.may_receive_marketing(contact, purpose):
        return None
    return contact


def recipient_language(to: str, contact_id: int | None) -> str:
    """The language every email to this person is written in: their contact's preferred one."""
    if contact_id is not None:
        contact = db.session.get(Contact, contact_id)  # usually in the session already: no query
        found = contact.preferred_language if contact is not None else None
    else:
        found = db.session.scalar(
            select(Contact.preferred_language).where(Contact.email == to.strip().lower())
        )
    return normalise_language(found) or "en"


def render_email(kind: str, context: dict[str, Any], language: str | None = None) -> tuple[str, str, str]:
    """(subject from the "Subject:" first line or "", text body, HTML body or ""), in `language`
    (the recipient's preferred language; English when None)."""
    from flask_babel import force_locale

    with force_locale(language or "en"):
        return _render_email(kind, context)


def _render_email(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
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
    purpose: str = "news",
) -> OutboxMessage | None:
    """Render templates/email/<kind>.txt (and .html when present) and add it to the outbox.

    With a `dedupe_key`, a message already queued under that key is not queued again (returns None).
    The template's first line, "Subject: ...", gives the subject unless `subject` is passed.
    Marketing mail (`marketing=True`: campaigns, crm.campaigns.sending) goes only to a contact who
    consented to `purpose` by email and is not suppressed (else returns None), and carries an
    unsubscribe link for that purpose and RFC 8058 List-Unsubscribe headers.
    `one_time_link` names the context key holding a sign-in, reset or set-password link: the
    stored bodies get ONE_TIME_LINK_PLACEHOLDER and the link is kept only until the email is sent.
    """
    if dedupe_key and db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    ):
        return None
    ctx = dict(context or {})
    headers: dict[str, str] = {}
    if marketing:
        contact = _marketing_contact(to, contact_id, purpose)
        if contact is None:
            return None
        contact_id = contact.id
        ctx["unsubscribe_url"] = unsubscribe_url(contact, purpose)
        headers["List-Unsubscribe"] = f"<{one_click_unsubscribe_url(contact, purpose)}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    live_link = None
    if one_time_link is not None:
        live_link, ctx[one_time_link] = str(ctx[one_time_link]), ONE_TIME_LINK_PLACEHOLDER
    template_subject, text, html = render_email(kind, ctx, recipient_language(to, contact_id))
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
