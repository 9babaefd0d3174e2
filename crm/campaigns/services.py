"""Campaign rules: drafts, the recipient count, confirmation, scheduling, and the report.

Sending itself is crm.campaigns.sending (a job). Services flush; the route or job commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from crm.audiences import filters as audience_filters
from crm.audiences.models import Audience
from crm.audit.services import record
from crm.campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from crm.contacts.consent import PURPOSES
from crm.contacts.models import Consent, Contact, Suppression
from crm.core.database import affected_rows
from crm.core.markup import render_markdown
from crm.core.types import utcnow
from crm.email.models import OutboxMessage, OutboxStatus
from crm.email.services import queue_email
from crm.extensions import db

UK = ZoneInfo("Europe/London")
MAX_SUBJECT = 200
MAX_PREHEADER = 200
MAX_BODY = 100_000


class CampaignError(ValueError):
    """Something staff must fix before the campaign can be saved or sent (the message says what)."""


def save_draft(campaign: Campaign | None, *, subject: str, preheader: str, body: str, purpose: str,
               audience_id: int | None, post_id: int | None, actor: Any) -> Campaign:  # fmt: skip
    subject, preheader = " ".join((subject or "").split()), " ".join((preheader or "").split())
    if not subject:
        raise CampaignError("Give the campaign a subject.")
    if len(subject) > MAX_SUBJECT:
        raise CampaignError(f"The subject is too long: at most {MAX_SUBJECT} characters.")
    if len(preheader) > MAX_PREHEADER:
        raise CampaignError(f"The preheader is too long: at most {MAX_PREHEADER} characters.")
    if len(body or "") > MAX_BODY:
        raise CampaignError(f"The message is too long: at most {MAX_BODY:,} characters.")
    if purpose not in PURPOSES:
        raise CampaignError("Choose what the email is: news and updates, or a fundraising appeal.")
    if audience_id is not None and db.session.get(Audience, audience_id) is None:
        raise CampaignError("That audience no longer exists.")
    if campaign is None:
        campaign = Campaign(created_by_id=getattr(actor, "id", None))
        db.session.add(campaign)
    elif campaign.status != CampaignStatus.DRAFT:
        raise CampaignError("Only a draft can be changed.")
    campaign.subject, campaign.preheader, campaign.body_markdown = subject, preheader, body or ""
    campaign.purpose, campaign.audience_id, campaign.post_id = purpose, audience_id, post_id
    db.session.flush()
    return campaign


def body_html(campaign: Campaign) -> str:
    """The message rendered and sanitised by the news renderer."""
    return render_markdown(campaign.body_markdown)


def _reachable(campaign: Campaign) -> list[Any] | None:
    audience = db.session.get(Audience, campaign.audience_id) if campaign.audience_id else None
    if audience is None:
        return None
    return audience_filters.reachable_conditions(audience_filters.clean(audience.filters), campaign.purpose)


def recipient_count(campaign: Campaign) -> int:
    """Who it would go to now: the audience, with consent for its purpose, not suppressed."""
    conditions = _reachable(campaign)
    if conditions is None:
        return 0
    return int(db.session.scalar(select(func.count()).select_from(Contact).where(*conditions)) or 0)


def reachable_ids(campaign: Campaign) -> Any:
    conditions = _reachable(campaign)
    if conditions is None:
        return None
    return select(Contact.id).where(*conditions)


def email_context(campaign: Campaign, preview: str | None = None) -> dict[str, Any]:
    """What templates/email/campaign.* share between recipients (each adds its `first_name`);
    `preview` is the rendered body when the caller (the sending job) already has it."""
    base_url = current_app.config["BASE_URL"]
    post_url = None
    if campaign.post_id:
        from crm.news.models import Post

        post = db.session.get(Post, campaign.post_id)
        post_url = f"{base_url}/news/{post.slug}" if post else None
    return {
        "campaign": campaign,
        "preview": body_html(campaign) if preview is None else preview,
        "post_url": post_url,
    }


def send_test(campaign: Campaign, *, actor: Any) -> OutboxMessage | None:
    """A copy to the staff member's own address (transactional: no consent asked, marked [Test])."""
    email = actor.contact.email if getattr(actor, "contact", None) else actor.email
    message = queue_email(email, "campaign", {**email_context(campaign), "test": True},
                          subject=f"[Test] {campaign.subject}"[:250])  # fmt: skip
    record("campaign.test_send", target_type="campaign", target_id=campaign.id, detail=email, actor=actor)
    return message


def confirm_send(campaign: Campaign, *, count_seen: int, when_uk: datetime | None, actor: Any) -> Campaign:
    """Staff confirmed the number on the confirmation page: send now or at a UK local time.

    The count must still be what they saw (else they confirm again); nobody means nothing to send."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError("This campaign has already been sent or scheduled.")
    if campaign.audience_id is None:
        raise CampaignError("Choose an audience first.")
    now_count = recipient_count(campaign)
    if now_count == 0:
        raise CampaignError("This audience matches nobody who may receive this email, so it cannot be sent.")
    if now_count != count_seen:
        raise CampaignError(f"The number of recipients changed to {now_count:,}: check it and confirm again.")
    campaign.confirmed_count = now_count
    campaign.sent_by_id = getattr(actor, "id", None)
    if when_uk is not None:
        scheduled = when_uk.replace(tzinfo=UK) if when_uk.tzinfo is None else when_uk
        if scheduled <= utcnow():
            raise CampaignError("Choose a time in the future.")
        campaign.scheduled_at = scheduled.astimezone(ZoneInfo("UTC"))
    else:
        campaign.scheduled_at = utcnow()
    campaign.status = CampaignStatus.SCHEDULED
    if campaign.post_id is not None:  # the news list shows which posts went out by email
        from crm.news.models import Post

        post = db.session.get(Post, campaign.post_id)
        if post is not None:
            post.emailed_at = campaign.scheduled_at
    record("campaign.send", target_type="campaign", target_id=campaign.id,
           after={"recipients": now_count, "scheduled_at": campaign.scheduled_at.isoformat(),
                  "subject": campaign.subject}, actor=actor)  # fmt: skip
    db.session.flush()
    return campaign


@dataclass(frozen=True)
class Report:
    recipients: int
    pending: int
    skipped: int
    queued: int
    sent: int
    failed: int
    failures: list[tuple[str, str]]
    bounced: int
    unsubscribed: int


def report(campaign: Campaign) -> Report:
    """What happened to each recipient; the parts add up to `recipients`."""
    rows = dict(
        db.session.execute(
            select(CampaignRecipient.status, func.count())
            .where(CampaignRecipient.campaign_id == campaign.id)
            .group_by(CampaignRecipient.status)
        ).all()
    )
    outbox = dict(
        db.session.execute(
            select(OutboxMessage.status, func.count())
            .join(CampaignRecipient, CampaignRecipient.outbox_id == OutboxMessage.id)
            .where(CampaignRecipient.campaign_id == campaign.id)
            .group_by(OutboxMessage.status)
        ).all()
    )
    failures = [
        (email, error)
        for email, error in db.session.execute(
            select(OutboxMessage.to_email, OutboxMessage.last_error)
            .join(CampaignRecipient, CampaignRecipient.outbox_id == OutboxMessage.id)
            .where(CampaignRecipient.campaign_id == campaign.id, OutboxMessage.status == OutboxStatus.FAILED)
            .limit(100)
        )
    ]
    recipients_emails = (
        select(Contact.email)
        .join(CampaignRecipient, CampaignRecipient.contact_id == Contact.id)
        .where(CampaignRecipient.campaign_id == campaign.id)
    )
    bounced = db.session.scalar(
        select(func.count())
        .select_from(Suppression)
        .where(
            Suppression.email.in_(recipients_emails),
            Suppression.reason.in_(("hard_bounce", "complaint")),
            Suppression.created_at >= (campaign.started_at or campaign.created_at),
        )
    )
    unsubscribed = db.session.scalar(
        select(func.count(func.distinct(Consent.contact_id))).where(
            Consent.contact_id.in_(
                select(CampaignRecipient.contact_id).where(CampaignRecipient.campaign_id == campaign.id)
            ),
            Consent.channel == "email",
            Consent.purpose == campaign.purpose,
            Consent.granted.is_(False),
            Consent.created_at >= (campaign.started_at or campaign.created_at),
        )
    )
    sending = outbox.get(OutboxStatus.QUEUED, 0) + outbox.get(OutboxStatus.SENDING, 0)
    return Report(
        recipients=sum(rows.values()), pending=rows.get(RecipientStatus.PENDING, 0), skipped=rows.get(RecipientStatus.SKIPPED, 0),
        queued=sending, sent=outbox.get(OutboxStatus.SENT, 0), failed=outbox.get(OutboxStatus.FAILED, 0), failures=failures,
        bounced=int(bounced or 0), unsubscribed=int(unsubscribed or 0),
    )  # fmt: skip


def release_duplicate(kept_id: int, other_id: int) -> int:
    """Merging duplicates: a campaign both received keeps the kept contact's row (one per person)."""
    from sqlalchemy import delete

    both = select(CampaignRecipient.campaign_id).where(CampaignRecipient.contact_id == kept_id)
    result = db.session.execute(
        delete(CampaignRecipient).where(
            CampaignRecipient.contact_id == other_id, CampaignRecipient.campaign_id.in_(both)
        )
    )
    return affected_rows(result)
