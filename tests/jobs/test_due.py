"""Work due at a time of day (`crm due`, every minute under `crm schedule`): a post scheduled for
09:00 London time is published at 09:00, not at the next 03:00 daily run (issue 23 item 6)."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from sqlalchemy import select

from crm.extensions import db
from crm.jobs.due import next_daily_run, run_due, run_schedule
from crm.news.models import Post

#: 09:00 on a July day in London is 08:00 UTC (British Summer Time).
JULY_0900_LONDON = datetime(2027, 7, 15, 8, 0, tzinfo=UTC)


def _scheduled_post() -> int:
    post = Post(slug="delegation", title="Delegation report", status="scheduled", publish_at=JULY_0900_LONDON)
    db.session.add(post)
    db.session.commit()
    return post.id


def _status(post_id: int) -> str:
    db.session.expire_all()
    return db.session.scalar(select(Post.status).where(Post.id == post_id)) or ""


def test_a_post_scheduled_for_0900_in_july_is_published_by_the_due_run_at_0900_london(app):
    post_id = _scheduled_post()
    early = run_due(datetime(2027, 7, 15, 7, 59, tzinfo=UTC))
    assert early["posts_published"] == 0 and _status(post_id) == "scheduled"
    assert run_due(JULY_0900_LONDON)["posts_published"] == 1
    assert _status(post_id) == "published"
    assert run_due(JULY_0900_LONDON)["posts_published"] == 0  # once


def test_the_due_run_also_starts_scheduled_campaigns(app):
    assert "campaigns_started" in run_due(JULY_0900_LONDON)


def test_the_scheduler_runs_the_due_work_each_minute_and_the_daily_run_at_its_time(app):
    post_id = _scheduled_post()
    daily_runs: list[datetime] = []
    naps: list[float] = []
    with time_machine.travel(datetime(2027, 7, 15, 7, 58, 30, tzinfo=UTC), tick=False) as clock:

        def sleep(seconds: float) -> None:
            naps.append(seconds)
            clock.shift(60)

        run_schedule(lambda: daily_runs.append(datetime.now(UTC)), at="03:00", rounds=3, sleep=sleep)
    assert len(daily_runs) == 1  # at start; the next is at 03:00 tomorrow
    assert _status(post_id) == "published"  # by the round at 08:00:30, within the minute
    assert naps and all(0 < nap <= 60 for nap in naps)


def test_a_failing_daily_run_does_not_stop_the_scheduler(app):
    post_id = _scheduled_post()

    def broken_daily() -> None:
        raise RuntimeError("database gone")

    with time_machine.travel(JULY_0900_LONDON, tick=False):
        run_schedule(broken_daily, at="03:00", rounds=1, sleep=lambda _: None)
    assert _status(post_id) == "published"


def test_the_next_daily_run_is_today_or_tomorrow_at_its_time():
    assert next_daily_run(datetime(2027, 7, 15, 2, 0, tzinfo=UTC), "03:00") == datetime(
        2027, 7, 15, 3, 0, tzinfo=UTC
    )
    assert next_daily_run(datetime(2027, 7, 15, 3, 0, tzinfo=UTC), "03:00") == datetime(
        2027, 7, 16, 3, 0, tzinfo=UTC
    )


def test_the_commands_say_what_they_did_and_refuse_a_bad_time(app):
    _scheduled_post()
    runner = app.test_cli_runner()
    with time_machine.travel(JULY_0900_LONDON, tick=False):
        assert "posts published: 1" in runner.invoke(args=["crm", "due"]).output
    refused = runner.invoke(args=["crm", "schedule", "--daily-at", "25:00"])
    assert refused.exit_code != 0 and "use HH:MM" in refused.output
