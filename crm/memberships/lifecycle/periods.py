"""How long a plan period and a grace period run."""

from __future__ import annotations

import calendar
from datetime import datetime

from flask import current_app

from crm.memberships.models import Plan


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, clamping the day (31 January + 1 month = 28/29 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_end(plan: Plan, start: datetime) -> datetime | None:
    """The end of one plan period starting at `start`; none for life membership."""
    if plan.interval == "month":
        return add_months(start, 1)
    if plan.interval == "year":
        return add_months(start, 12)
    return None


def grace_days(plan: Plan) -> int:
    return plan.grace_days if plan.grace_days is not None else int(current_app.config["GRACE_DAYS"])
