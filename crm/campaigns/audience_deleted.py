"""An audience deleted under a campaign: campaigns' step before audiences deletes one."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update

from crm.audiences.models import Audience
from crm.audiences.services import on_delete
from crm.campaigns.models import Campaign
from crm.extensions import db


def stop_campaigns_for(audience: Audience) -> int:
    """Stop, with the reason, each campaign scheduled for (or sending to) the audience, and unlink
    every campaign from it. Returns how many were stopped."""
    # A bulk UPDATE's result is a CursorResult (it has the row count); execute() is typed as Result.
    stopped = cast(
        CursorResult[Any],
        db.session.execute(
            update(Campaign)
            .where(
                Campaign.audience_id == audience.id,
                Campaign.status.in_(("scheduled", "sending")),
            )
            .values(
                status="stopped",
                stop_reason=f"Its audience “{audience.name}” was deleted before it was sent.",
            )
        ),
    ).rowcount
    db.session.execute(update(Campaign).where(Campaign.audience_id == audience.id).values(audience_id=None))
    return int(stopped or 0)


def init_app() -> None:
    """Register with audiences (`create_app` calls this)."""
    on_delete("campaigns", stop_campaigns_for)
