"""The email outbox: written in the same transaction as the change that causes the email."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.types import UTCDateTime, utcnow
from crm.extensions import Model


class OutboxStatus(StrEnum):
    """queued -> sending (a worker holds it) -> sent, or back to queued for a retry, or failed."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


#: Where a one-time link sits in a stored body; the link itself is put in only as the email leaves.
ONE_TIME_LINK_PLACEHOLDER = "[one-time link: only in the email as sent]"


#: Kinds whose template name reads badly as words; the rest read as their name with spaces.
KIND_NAMES = {
    "subscribe_confirm": "Confirm subscription",
    "email_change_confirm": "Confirm new email address",
    "email_change_notice": "Email address changed",
    "receipt_links": "Receipt (with links)",
    "login_link": "Sign-in link",
    "reset_password": "Password reset",
}


def kind_name(kind: str | None) -> str:
    """An email's kind (its template name) as staff read it: "Event booking confirmed"."""
    return KIND_NAMES.get(kind or "", (kind or "").replace("_", " ").capitalize())


class OutboxMessage(Model):
    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_email: Mapped[str] = mapped_column(String(254))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    #: welcome, login_link, reset_password, receipt, renewal_reminder, ...
    kind: Mapped[str] = mapped_column(String(40), index=True)
    subject: Mapped[str] = mapped_column(String(250))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    #: The live sign-in/reset/set-password link, kept only until the message is sent (or fails for
    #: good) and then cleared; the bodies hold ONE_TIME_LINK_PLACEHOLDER instead. Never shown.
    one_time_link: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Makes "send this once" a database rule (e.g. reminder-30d:<membership>:<period end>).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_email_outbox_due", OutboxMessage.status, OutboxMessage.next_attempt_at)
