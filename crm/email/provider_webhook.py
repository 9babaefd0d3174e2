"""Bounces and spam complaints from the mail provider: Mailgun's signed webhooks.

Mailgun signs each event: `signature.signature` is the hex HMAC-SHA256, keyed with the
account's webhook signing key (MAILGUN_WEBHOOK_SIGNING_KEY), of `signature.timestamp` followed by
`signature.token`. We check it in constant time and refuse a timestamp more than
MAILGUN_WEBHOOK_MAX_AGE_SECONDS (default 900) from now, so a captured call cannot be replayed
later; a replay inside that window finds the address already suppressed and changes nothing.

A permanent failure ("failed" with severity "permanent") adds a hard_bounce suppression; a
"complained" event adds a complaint suppression. Every other event is acknowledged and ignored.
Point Mailgun's "Permanent failure" and "Spam complaints" webhooks at /email/webhooks/mailgun.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from flask import abort, current_app, jsonify, request

from crm.audit.services import record
from crm.contacts import consent
from crm.contacts.services import email_key, email_problem
from crm.email.routes import bp
from crm.extensions import csrf, db

DEFAULT_MAX_AGE_SECONDS = 900


def signature_is_valid(signature: Any, key: str, *, now: float | None = None) -> bool:
    """True for a genuine, recent Mailgun signature block."""
    if not isinstance(signature, dict) or not key:
        return False
    timestamp, token, given = (str(signature.get(k) or "") for k in ("timestamp", "token", "signature"))
    if not timestamp.isdigit() or not token or not given:
        return False
    max_age = int(current_app.config.get("MAILGUN_WEBHOOK_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS))
    if abs((now or time.time()) - int(timestamp)) > max_age:
        return False
    expected = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def suppression_for(event: Any) -> tuple[str, str] | None:
    """(email, reason) when the event means no more marketing mail to that address."""
    if not isinstance(event, dict):
        return None
    recipient = email_key(str(event.get("recipient") or ""))
    if email_problem(recipient):
        return None
    if event.get("event") == "failed" and event.get("severity") == "permanent":
        return recipient, "hard_bounce"
    if event.get("event") == "complained":
        return recipient, "complaint"
    return None


@bp.post("/webhooks/mailgun")
@csrf.exempt  # the provider posts JSON without a form; its HMAC signature is the credential
def mailgun_webhook():
    key = current_app.config.get("MAILGUN_WEBHOOK_SIGNING_KEY") or ""
    if not key:
        abort(404)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not signature_is_valid(payload.get("signature"), key):
        abort(403)
    found = suppression_for(payload.get("event-data"))
    if found is not None:
        email, reason = found
        event = payload["event-data"]
        detail = str((event.get("delivery-status") or {}).get("description") or event.get("reason") or "")[
            :500
        ]
        added = consent.suppress(email, reason, detail=f"Mailgun: {detail}")
        if added is not None:
            record("email.suppress", target_type="suppression", target_id=added.id, detail=f"{reason}: {email}",
                   actor_label="mailgun webhook")  # fmt: skip
        db.session.commit()
    return jsonify(ok=True)
