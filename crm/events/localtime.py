"""The organisation's wall clock: times are entered and shown in it (TIMEZONE, default
Europe/London) and stored in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel import Locale
from flask import current_app
from flask_babel import get_locale


def org_zone() -> ZoneInfo:
    return ZoneInfo(str(current_app.config.get("TIMEZONE", "Europe/London")))


def to_utc(local: datetime) -> datetime:
    """A wall-clock time as entered (naive, in the organisation's zone) to aware UTC."""
    return local.replace(tzinfo=org_zone()).astimezone(UTC)


def to_local(moment: datetime) -> datetime:
    return moment.astimezone(org_zone())


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day, in UTC (a day is 23 or 25 hours at the clock changes)."""
    start = datetime.combine(day, time.min, tzinfo=org_zone())
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=org_zone())
    return start.astimezone(UTC), end.astimezone(UTC)


def format_local(moment: datetime | None) -> str:
    """e.g. "Sat 12 Dec 2026, 7:30pm" (in Spanish "sáb 12 dic 2026, 19:30") in the organisation's zone."""
    if moment is None:
        return ""
    local = to_local(moment)
    if _page_language() == "es":
        names = Locale.parse("es_ES")
        day = names.days["format"]["abbreviated"][local.weekday()]
        month = names.months["format"]["abbreviated"][local.month]
        return f"{day} {local.day} {month} {local.year}, {local:%H:%M}"
    hour = local.strftime("%I").lstrip("0")
    minutes = "" if local.minute == 0 else local.strftime(":%M")
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b %Y')}, {hour}{minutes}{local.strftime('%p').lower()}"


def format_local_end(starts: datetime, ends: datetime) -> str:
    """When an event ends, after `format_local(starts)`: the time alone on the same day ("9pm",
    "21:00"), else the whole date and time."""
    start, end = to_local(starts), to_local(ends)
    if start.date() != end.date():
        return format_local(ends)
    if _page_language() == "es":
        return f"{end:%H:%M}"
    minutes = "" if end.minute == 0 else end.strftime(":%M")
    return f"{end.strftime('%I').lstrip('0')}{minutes}{end.strftime('%p').lower()}"


def _page_language() -> str:
    """The language of the page or email being written ("en" outside a request)."""
    try:
        locale = get_locale()
    except (RuntimeError, KeyError):
        return "en"
    return locale.language if locale else "en"
