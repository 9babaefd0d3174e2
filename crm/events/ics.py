"""iCalendar (RFC 5545) text for events, written by hand: escaping, CRLF and 75-octet folding."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import current_app

from crm.core.types import utcnow
from crm.events.models import Event


def escape_text(value: str) -> str:
    """TEXT escaping (RFC 5545 3.3.11): backslash, semicolon, comma and newlines."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Lines longer than 75 octets are folded (CRLF + space), never inside a UTF-8 character."""
    out: list[str] = []
    current = ""
    size = 0
    limit = 75
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += ch
        size += width
    out.append(current)
    return "\r\n".join(out)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def event_url(event: Event) -> str:
    return f"{current_app.config['BASE_URL']}/events/{event.slug}"


def _vevent(event: Event, *, with_link: bool) -> list[str]:
    host = current_app.config["BASE_URL"].split("://", 1)[-1].split("/", 1)[0] or "crm"
    location = event.place or ("Online" if event.online_link else "")
    description = event.description_markdown
    if with_link and event.online_link:
        description = f"{description}\n\nJoin online: {event.online_link}".strip()
    lines = [
        "BEGIN:VEVENT",
        f"UID:event-{event.id}@{host}",
        f"DTSTAMP:{_stamp(utcnow())}",
        f"DTSTART:{_stamp(event.starts_at)}",
        f"DTEND:{_stamp(event.ends_at)}",
        f"SUMMARY:{escape_text(event.title)}",
        f"DESCRIPTION:{escape_text(description)}",
        f"URL:{event_url(event)}",
    ]
    if location:
        lines.append(f"LOCATION:{escape_text(location)}")
    lines.append("END:VEVENT")
    return lines


def calendar(events: Iterable[Event], *, with_link: bool = False) -> str:
    """A VCALENDAR of the events; `with_link` adds the online link (only for the booked)."""
    org = escape_text(str(current_app.config["ORG_NAME"]))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:-//{org}//CRM events//EN", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{org} events"]  # fmt: skip
    for event in events:
        lines.extend(_vevent(event, with_link=with_link))
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def google_calendar_url(event: Event) -> str:
    dates = f"{_stamp(event.starts_at)}/{_stamp(event.ends_at)}"
    query = {"action": "TEMPLATE", "text": event.title, "dates": dates, "details": event_url(event),
             "location": event.place}  # fmt: skip
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def outlook_calendar_url(event: Event) -> str:
    query = {"path": "/calendar/action/compose", "rru": "addevent", "subject": event.title,
             "startdt": event.starts_at.astimezone(UTC).isoformat(), "enddt": event.ends_at.astimezone(UTC).isoformat(),
             "body": event_url(event), "location": event.place}  # fmt: skip
    return "https://outlook.live.com/calendar/0/deeplink/compose?" + urlencode(query)
