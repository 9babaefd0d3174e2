"""Writing the audit trail: one function, called by every staff action and security event."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from crm.audit.models import AuditEvent
from crm.extensions import db


def _clean(text: str) -> str:
    """No control characters: a name with a newline must not forge a second line anywhere."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def record(
    action: str,
    *,
    target_type: str = "",
    target_id: object = "",
    contact_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str = "",
    actor: Any = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Add an audit row in the caller's transaction (it is committed, or rolled back, with it)."""
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user
    label = actor_label or (actor.email if actor is not None else "system")
    ip = request.remote_addr or "" if has_request_context() else ""
    event = AuditEvent(
        action=action,
        actor_user_id=getattr(actor, "id", None),
        actor_label=_clean(label)[:254],
        ip=ip[:64],
        target_type=target_type,
        target_id=str(target_id)[:64],
        contact_id=contact_id,
        before=before,
        after=after,
        detail=_clean(detail)[:2000],
    )
    db.session.add(event)
    return event
