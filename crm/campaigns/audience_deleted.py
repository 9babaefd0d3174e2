"""An audience deleted under a campaign: campaigns' step before audiences deletes one."""

from __future__ import annotations

from sqlalchemy import update

from crm.audiences.models import Audience
from crm.audiences.services import on_delete
from crm.campaigns.models import SENDING_STATUSES, Campaign, CampaignStatus
from crm.core.database import affected_rows
from crm.extensions import db


def stop_campaigns_for(audience: Audience) -> int:
    """Stop, with the reason, each campaign scheduled for (or sending to) the audience, and unlink
    every campaign from it. Returns how many were stopped."""
    stopped = affected_rows(
        db.session.execute(
            update(Campaign)
            .where(
                Campaign.audience_id == audience.id,
                Campaign.status.in_(SENDING_STATUSES),
            )
            .values(
                status=CampaignStatus.STOPPED,
                stop_reason=f"Its audience “{audience.name}” was deleted before it was sent.",
            )
        )
    )
    db.session.execute(update(Campaign).where(Campaign.audience_id == audience.id).values(audience_id=None))
    return stopped


def init_app() -> None:
    """Register with audiences (`create_app` calls this)."""
    on_delete("campaigns", stop_campaigns_for)
