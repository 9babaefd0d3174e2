"""Email goes through `queue_email`: it renders the message and writes it to the outbox in the
caller's transaction. Delivery happens after commit (see crm/email/delivery.py)."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from sqlalchemy import select

from crm.email.models import OutboxMessage
from crm.extensions import db


def queue_email(
    to: str,
    kind: str,
    context: dict[str, Any] | None = None,
    *,
    contact_id: int | None = None,
    dedupe_key: str | None = None,
    subject: str | None = None,
) -> OutboxMessage | None:
    """Render templates/email/<kind>.txt (and .html when present) and add it to the outbox.

    With a `dedupe_key`, a message already queued under that key is not queued again (returns None).
    The template's first line, "Subject: ...", gives the subject unless `subject` is passed.
    """
    if dedupe_key and db.session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    ):
        return None
    ctx = {
        "org_name": current_app.config["ORG_NAME"],
        "base_url": current_app.config["BASE_URL"],
        "org_address": current_app.config["ORG_ADDRESS"],
        **(context or {}),
    }
    text = render_template(f"email/{kind}.txt", **ctx)
    first, _, rest = text.partition("\n")
    if first.startswith("Subject:"):
        subject = subject or first[len("Subject:") :].strip()
        text = rest.lstrip("\n")
    try:
        html = render_template(f"email/{kind}.html", **ctx)
    except Exception:  # noqa: BLE001  (an HTML part is optional)
        html = ""
    message = OutboxMessage(
        to_email=to,
        kind=kind,
        subject=subject or kind.replace("_", " ").capitalize(),
        body_text=text,
        body_html=html,
        contact_id=contact_id,
        dedupe_key=dedupe_key,
    )
    db.session.add(message)
    db.session.flush()
    return message
