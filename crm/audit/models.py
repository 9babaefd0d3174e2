"""The append-only audit trail of staff actions and security events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.types import UTCDateTime, utcnow
from crm.extensions import Model


class AuditEvent(Model):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: Who, as text, so the trail still reads after an account is gone (or "system", "stripe").
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    #: e.g. login.success, member.update, payment.refund, export.members
    action: Mapped[str] = mapped_column(String(80), index=True)
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    #: The contact the event concerns, so it shows on their page.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str] = mapped_column(Text, default="")
