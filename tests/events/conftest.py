from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.core.types import utcnow
from crm.events import services
from crm.events.models import Event
from crm.extensions import db


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


def make_event(title: str = "Film night", *, capacity: int = 0, member_price: int = 0, other_price: int = 0,
               visibility: str = "public", starts_at: datetime | None = None, online_link: str = "",
               kind: str = "event") -> Event:  # fmt: skip
    """An event saved the way staff save one (the service the staff form calls)."""
    start = starts_at or (utcnow() + timedelta(days=10)).replace(microsecond=0)
    event = services.save_event(None, services.EventData(
        title=title, description="A *good* film.\n\n<script>alert(1)</script>", starts_at=start,
        ends_at=start + timedelta(hours=2), place="Northgate Community Hall, London", online_link=online_link, capacity=capacity,
        visibility=visibility, member_price=member_price, other_price=other_price, published=True, kind=kind))  # fmt: skip
    db.session.commit()
    return event


def book_form(email: str = "vi@example.org", *names: str) -> dict[str, str]:
    data = {"email": email}
    for i, name in enumerate(names or ("Vi Visitor",)):
        data[f"names-{i}"] = name
    return data


__all__ = ["UTC", "book_form", "make_event"]
