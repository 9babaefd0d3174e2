"""Work that is due at a time of day rather than once a day: a post scheduled for 09:00 is
published at 09:00, a campaign scheduled for 18:30 starts at 18:30. `flask crm due` runs every
registered step once; `flask crm schedule` (what `deploy/run schedule` starts) runs it every
minute and the daily run once a day at DAILY_AT.

The domains register their steps (news its scheduled posts, campaigns its scheduled sends), so
this module imports none of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from flask.sansio.app import App

from crm.core.types import utcnow
from crm.extensions import db

log = logging.getLogger("crm.jobs")

_DUE_STEPS = "crm.due.steps"
DueStep = Callable[[datetime], int]


def register_due_step(app: App, key: str, step: DueStep, *, order: int) -> None:
    """Run `step(now)` every minute (and in each daily run's own steps, if the domain also
    registers it there); registering a key again replaces it."""
    app.extensions.setdefault(_DUE_STEPS, {})[key] = (order, step)


def run_due(now: datetime | None = None) -> dict[str, int]:
    """Every registered step once, each committed on its own; a failing step is logged and
    rolled back, and the others still run. Returns what each step did (-1: it failed)."""
    now = now or utcnow()
    summary: dict[str, int] = {}
    steps = current_app.extensions.get(_DUE_STEPS, {})
    for key, (_, step) in sorted(steps.items(), key=lambda item: item[1][0]):
        try:
            summary[key] = int(step(now) or 0)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("due step %s failed", key)
            summary[key] = -1
    return summary


def next_daily_run(now: datetime, at: str) -> datetime:
    """The next DAILY_AT ("HH:MM", UTC) after `now`."""
    hour, minute = (int(part) for part in at.split(":"))
    today = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


def _logged(daily: Callable[[], object]) -> None:
    try:
        daily()
    except Exception:
        db.session.rollback()
        log.exception("the daily run failed; it runs again at its next time")


def run_schedule(daily: Callable[[], object], *, at: str, rounds: int | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
    """The daily run now, then the due steps every minute and the daily run each day at `at`;
    `rounds` stops after that many minutes (tests). A failing run is logged and tried again at
    its next time; the loop goes on."""
    _logged(daily)
    next_daily = next_daily_run(utcnow(), at)
    done = 0
    while rounds is None or done < rounds:
        started = time.monotonic()
        summary = run_due()
        if any(summary.values()):
            log.info("due: %s", summary)
        if utcnow() >= next_daily:
            _logged(daily)
            next_daily = next_daily_run(utcnow(), at)
        done += 1
        db.session.remove()
        if rounds is None or done < rounds:
            sleep(max(0.0, 60.0 - (time.monotonic() - started)))
