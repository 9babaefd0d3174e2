"""What a recipient actually got: the email as it left (the "memory" backend the tests use).

The outbox stores one-time links only until a message is sent (crm.email.services.queue_email), so
a test that follows a sign-in, reset or set-password link reads it from the sent email, as the
person would, never from the stored row.
"""

from __future__ import annotations

from typing import Any

from crm.email.models import ONE_TIME_LINK_PLACEHOLDER
from crm.email.sender import MEMORY_OUTBOX


def sent_text(message: Any) -> str:
    """The plain-text body of the email this outbox row became: while the row still keeps its link
    (not sent yet), the stored body with the link put in as sending would; once sent, the newest
    email that left for it."""
    text = message.body_text or ""
    if getattr(message, "one_time_link", None):
        return text.replace(ONE_TIME_LINK_PLACEHOLDER, message.one_time_link)
    prefix = f"<outbox.{message.id}."
    for sent in reversed(MEMORY_OUTBOX):
        if str(sent["Message-ID"] or "").startswith(prefix) and str(sent["To"]) == message.to_email:
            body = sent.get_body(preferencelist=("plain",))
            return body.get_content() if body is not None else ""
    return text
