"""Email goes through `queue_emails` (one message: `queue_email`): it renders the messages and
writes them to the outbox in the caller's transaction. Delivery happens after commit (see crm/email/delivery.py)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from flask import current_app, render_template
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import TemplateNotFound
from markupsafe import escape
from sqlalchemy import insert, select

from crm.contacts import consent
from crm.contacts.models import Contact
from crm.contacts.services import email_key
from crm.core.languages import normalise_language
from crm.core.types import utcnow
from crm.email.dispatch import deliver_after_commit  # (importing it registers the after-commit hook)
from crm.email.models import ONE_TIME_LINK_PLACEHOLDER, OutboxMessage, OutboxStatus
from crm.extensions import db

_UNSUBSCRIBE_SALT = "crm.email.unsubscribe"
#: Core inserts: a batch's rows go to the database as they are, without the ORM's bulk machinery.
outbox = OutboxMessage.__table__

#: A path segment that looks like a token (signed or random) in a link under any host.
_TOKEN_IN_LINK = re.compile(r"(https?://[^\s\"'<>]*/)[A-Za-z0-9_\-.]{20,}")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(contact: Contact, purpose: str | None = None) -> str:
    """A signed token naming the contact and the purpose the email was sent for; it never
    expires (old emails keep working). Without a purpose it withdraws every email purpose."""
    return _token(contact.id, purpose)


def _token(contact_id: int, purpose: str | None) -> str:
    data: dict[str, Any] = {"c": contact_id}
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
    return _unsubscribe_url(contact.id, purpose)


def _unsubscribe_url(contact_id: int, purpose: str | None) -> str:
    return f"{current_app.config['BASE_URL']}/email/unsubscribe/{_token(contact_id, purpose)}"


def one_click_unsubscribe_url(contact: Contact, purpose: str | None = None) -> str:
    """The RFC 8058 List-Unsubscribe target that mail clients POST to."""
    return f"{unsubscribe_url(contact, purpose)}/one-click"


def recipient_language(to: str, contact_id: int | None) -> str:
    """The language every email to this person is written in: their contact's preferred one."""
    if contact_id is not None:
        contact = db.session.get(Contact, contact_id)  # usually in the session already: no query
        found = contact.preferred_language if contact is not None else None
    else:
        found = db.session.scalar(select(Contact.preferred_language).where(Contact.email == email_key(to)))
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


@dataclass
class Outgoing:
    """One message for `queue_emails`: whom it is for and what is only theirs."""

    to: str
    contact_id: int | None = None
    dedupe_key: str | None = None
    #: This message's template context (beside the batch's shared one).
    context: dict[str, Any] = field(default_factory=dict)
    #: The recipient's language when the caller has it (a batch loads its contacts); else looked up.
    language: str | None = None
    #: The context key holding a sign-in, reset or set-password link (see `queue_email`).
    one_time_link: str | None = None


class _SharedRendering:
    """Renders a batch's template once per language and variant, then puts each recipient's own
    strings (`personal` context keys: a name, an unsubscribe link) into copies of it. A message
    with any other context of its own, or whose template changed a personal value on the way (a
    filter), is rendered whole."""

    def __init__(self, kind: str, shared: dict[str, Any], personal: tuple[str, ...]) -> None:
        self.kind, self.shared = kind, shared
        self.prefix = f"crm-slot-{uuid.uuid4().hex}-"
        self.slots = {key: f"{self.prefix}{n}-" for n, key in enumerate(personal)}
        self.cache: dict[tuple[Any, ...], tuple[str, str, str]] = {}

    def render(self, context: dict[str, Any], language: str) -> tuple[str, str, str]:
        whole = {**self.shared, **context}
        if not self.slots or any(key not in self.slots for key in context):
            return render_email(self.kind, whole, language)
        filled = {key: str(context[key]) for key in self.slots if context.get(key)}
        variant = (
            language,
            *((key, True) if key in filled else (key, context.get(key)) for key in self.slots),
        )
        if variant not in self.cache:
            stand_ins = {key: self.slots[key] if key in filled else context.get(key) for key in self.slots}
            self.cache[variant] = render_email(self.kind, {**self.shared, **stand_ins}, language)
        subject, text, html = self.cache[variant]
        for key, value in filled.items():
            slot = self.slots[key]
            subject, text = subject.replace(slot, value), text.replace(slot, value)
            html = html.replace(slot, str(escape(value)))
        if self.prefix in (subject + text + html).lower():
            return render_email(self.kind, whole, language)
        return subject, text, html


def _taken_keys(keys: list[str]) -> set[str]:
    taken: set[str] = set()
    for start in range(0, len(keys), 2000):
        chunk = keys[start : start + 2000]
        taken.update(
            db.session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(chunk)))
        )
    return taken


def _marketing_allowed(messages: list[Outgoing], purpose: str) -> list[Outgoing]:
    """Only those whose contact consents to `purpose` by email now and is not suppressed."""
    for message in messages:
        if message.contact_id is None:
            message.contact_id = db.session.scalar(
                select(Contact.id).where(Contact.email == email_key(message.to))
            )
    allowed = consent.marketing_reachable(
        [m.contact_id for m in messages if m.contact_id is not None], purpose
    )
    return [m for m in messages if m.contact_id in allowed]


def queue_emails(
    kind: str,
    messages: list[Outgoing],
    *,
    shared: dict[str, Any] | None = None,
    personal: tuple[str, ...] = (),
    subject: str | None = None,
    marketing: bool = False,
    purpose: str = "news",
    after_commit: bool = True,
) -> list[int | None]:
    """Render templates/email/<kind>.txt (and .html when present) for each message and add them
    all to the outbox in one INSERT; returns each message's outbox id, None where nothing was
    queued. Delivery follows the commit (crm.email.delivery).

    With a `dedupe_key`, a message already queued under that key is not queued again.
    The template's first line, "Subject: ...", gives the subject unless `subject` is passed.
    Marketing mail (`marketing=True`: campaigns, crm.campaigns.sending) goes only to a contact who
    consents to `purpose` by email now and is not suppressed, and carries an unsubscribe link for
    that purpose and RFC 8058 List-Unsubscribe headers of its own.
    `shared` context is the same for every message; the `personal` keys of each message's context
    are plain strings put into one rendering per language (a campaign renders its body once, not
    once per recipient); other context of a message's own makes it rendered alone.
    A batch skips a key another transaction queued meanwhile (its message gets None, never a second
    row). `after_commit=False` leaves the messages to the caller's sweep (the daily run's last step)
    instead of delivering them once the transaction commits.
    """
    taken = _taken_keys([m.dedupe_key for m in messages if m.dedupe_key])
    todo: list[Outgoing] = []
    for message in messages:
        if message.dedupe_key and message.dedupe_key in taken:
            continue
        if message.dedupe_key:
            taken.add(message.dedupe_key)  # twice in one batch: the first one
        todo.append(message)
    if marketing:
        todo = _marketing_allowed(todo, purpose)
        personal = (*personal, "unsubscribe_url")
    rendering = _SharedRendering(kind, shared or {}, personal)
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for message in todo:
        ctx, headers = dict(message.context), {}
        if marketing:
            assert message.contact_id is not None  # noqa: S101  (_marketing_allowed kept only contacts)
            ctx["unsubscribe_url"] = _unsubscribe_url(message.contact_id, purpose)
            headers["List-Unsubscribe"] = f"<{ctx['unsubscribe_url']}/one-click>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        live_link = None
        if message.one_time_link is not None:
            live_link, ctx[message.one_time_link] = str(ctx[message.one_time_link]), ONE_TIME_LINK_PLACEHOLDER
        language = message.language or recipient_language(message.to, message.contact_id)
        template_subject, text, html = rendering.render(ctx, language)
        rows.append({
            "to_email": message.to, "kind": kind, "body_text": text, "body_html": html,
            "subject": (subject or template_subject or kind.replace("_", " ").capitalize())[:250],
            "one_time_link": live_link, "headers": headers, "contact_id": message.contact_id,
            "dedupe_key": message.dedupe_key, "status": OutboxStatus.QUEUED, "attempts": 0, "last_error": "",
            "next_attempt_at": now, "created_at": now,
        })  # fmt: skip
    if not rows:
        return [None] * len(messages)
    if len(rows) == 1 and rows[0]["dedupe_key"] is None:
        ids: list[int | None] = [
            int(db.session.execute(insert(outbox).returning(outbox.c.id), rows[0]).scalar_one())
        ]
    else:  # one (multi-row) INSERT; RETURNING's order is not the rows' on SQLite, so match by key
        if any(row["dedupe_key"] is None for row in rows):
            raise ValueError("each message of a batch needs a dedupe_key")
        by_key: dict[str, int] = {
            key: i for key, i in db.session.execute(_insert_skipping_taken_keys(), rows)
        }
        ids = [by_key.get(row["dedupe_key"]) for row in rows]
    if after_commit:
        deliver_after_commit(db.session(), [i for i in ids if i is not None])
    queued = {id(message): outbox_id for message, outbox_id in zip(todo, ids, strict=True)}
    return [queued.get(id(message)) for message in messages]


def _insert_skipping_taken_keys() -> Any:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING (dedupe_key, id): a key that a
    concurrent transaction queued first is skipped, not doubled and not an error for the batch."""
    dialect = db.engine.dialect.name
    if dialect in ("postgresql", "sqlite"):
        module = import_module(f"sqlalchemy.dialects.{dialect}")
        statement = module.insert(outbox).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:
        statement = insert(outbox)
    return statement.returning(outbox.c.dedupe_key, outbox.c.id)


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
    """One email through `queue_emails`; returns its outbox row, or None when it was not queued
    (its `dedupe_key` already was, or a marketing email's contact may not receive it).

    `one_time_link` names the context key holding a sign-in, reset or set-password link: the
    stored bodies get ONE_TIME_LINK_PLACEHOLDER and the link is kept only until the email is sent.
    """
    message = Outgoing(to, contact_id, dedupe_key, dict(context or {}), one_time_link=one_time_link)
    [outbox_id] = queue_emails(kind, [message], subject=subject, marketing=marketing, purpose=purpose)
    return None if outbox_id is None else db.session.get(OutboxMessage, outbox_id)


def safe_summary(text: str) -> str:
    """A stored body as staff may read it: any token-like link segment (also in rows written before
    one-time links were kept apart, and signed links such as unsubscribe) is shown as [removed]."""
    return _TOKEN_IN_LINK.sub(r"\1[removed]", text or "")


def holds_spent_link(message: OutboxMessage) -> bool:
    """True when the message carried a one-time link that was cleared once sent: resending it
    would send a dead link, so the person asks for a new one instead."""
    return message.one_time_link is None and ONE_TIME_LINK_PLACEHOLDER in (message.body_text or "")
