"""A campaign and one row per recipient: the unique (campaign, contact) key makes each email once."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.types import UTCDateTime, utcnow
from crm.extensions import Model


class CampaignStatus(StrEnum):
    """draft -> scheduled -> sending -> sent; stopped when its audience went away."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    STOPPED = "stopped"


#: A campaign the sender still works on (due, or part-way through).
SENDING_STATUSES = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)


class RecipientStatus(StrEnum):
    #: Not yet handed to the outbox.
    PENDING = "pending"
    #: In the outbox (its message's status says sent or failed).
    QUEUED = "queued"
    #: Consent or suppression changed since the count.
    SKIPPED = "skipped"


class Campaign(Model):
    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    #: The line mail clients show after the subject.
    preheader: Mapped[str] = mapped_column(String(200), default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    #: news or appeals: the consent it needs and the unsubscribe it offers.
    purpose: Mapped[str] = mapped_column(String(20), default="news")
    post_id: Mapped[int | None] = mapped_column(ForeignKey("news_post.id"))
    audience_id: Mapped[int | None] = mapped_column(ForeignKey("audience.id"))
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.DRAFT, index=True)
    #: When to send (UTC; entered in UK local time).
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stop_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: Recipients counted on the confirmation page (after consent and suppression).
    confirmed_count: Mapped[int | None]
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CampaignRecipient(Model):
    __tablename__ = "campaign_recipient"
    __table_args__ = (UniqueConstraint("campaign_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=RecipientStatus.PENDING)
    #: The outbox row that carries the email (its status says sent or failed, and why).
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("email_outbox.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


Index(
    "ix_campaign_recipient_work",
    CampaignRecipient.campaign_id,
    CampaignRecipient.status,
    CampaignRecipient.id,
)
