"""UK local time: staff type and read times on the London clock, the database keeps UTC, and a
post scheduled for 09:00 goes out at 09:00 London time on either side of the clock changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from crm.extensions import db
from crm.news import publishing
from crm.news.models import Post
from tests.fixtures import csrf_token, sign_in_as


def _draft() -> Post:
    post = Post(slug="agm", title="AGM", body_markdown="x", body_html="<p>x</p>")
    db.session.add(post)
    db.session.commit()
    return post


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        ("2027-03-27", 9),  # the Saturday before the clocks go forward: GMT
        ("2027-03-28", 8),  # the clocks went forward at 01:00 that morning: BST
        ("2026-07-15", 8),  # summer: BST
        ("2026-10-24", 8),  # the Saturday before the clocks go back: still BST
        ("2026-10-25", 9),  # the clocks went back at 02:00 BST that morning: GMT
    ],
)
def test_a_post_scheduled_for_nine_goes_out_at_nine_london_time(
    client, editor_user, day: str, utc_hour: int
) -> None:  # type: ignore[no-untyped-def]
    post = _draft()
    with time_machine.travel(datetime(2026, 6, 1, 12, tzinfo=UTC), tick=False):
        sign_in_as(client, editor_user)
        token = csrf_token(client, f"/staff/news/{post.id}")
        response = client.post(
            f"/staff/news/{post.id}/schedule",
            data={"csrf_token": token, "publish_date": day, "publish_time": "09:00"},
        )
        assert response.status_code == 302
        # Staff read it back on the same clock.
        html = client.get(f"/staff/news/{post.id}").get_data(as_text=True)
        assert "09:00 " + ("BST" if utc_hour == 8 else "GMT") in html
    db.session.expire_all()
    stored = db.session.get(Post, post.id)
    year, month, date_ = (int(part) for part in day.split("-"))
    assert stored.publish_at == datetime(year, month, date_, utc_hour, 0, tzinfo=UTC)
    one_minute_early = datetime(year, month, date_, utc_hour - 1, 59, tzinfo=UTC)
    assert publishing.publish_due_posts(now=one_minute_early) == 0
    assert publishing.publish_due_posts(now=datetime(year, month, date_, utc_hour, 0, tzinfo=UTC)) == 1
    db.session.commit()


def test_a_time_in_the_missing_spring_hour_is_read_as_after_the_change(app) -> None:
    from crm.i18n.formatting import local_to_utc

    assert local_to_utc(datetime(2027, 3, 28, 1, 30)) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    # 01:30 happens twice on 25 October 2026: the first (BST) one.
    assert local_to_utc(datetime(2026, 10, 25, 1, 30)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_staff_times_are_shown_on_the_uk_clock(app) -> None:
    from crm.i18n.formatting import format_datetime

    with app.test_request_context("/"):
        assert format_datetime(datetime(2026, 7, 1, 8, 0, tzinfo=UTC)) == "1 July 2026, 09:00 BST"
        assert format_datetime(datetime(2026, 12, 1, 8, 0, tzinfo=UTC)) == "1 December 2026, 08:00 GMT"
