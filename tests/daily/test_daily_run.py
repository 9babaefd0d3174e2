"""The daily run: each reminder once, lifecycle moves, idempotent, and a fixed number of queries."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import delete, event, func, select

from crm.email.models import OutboxMessage
from crm.email.sender import MEMORY_OUTBOX
from crm.extensions import db
from crm.memberships.daily import run_daily
from crm.memberships.models import Membership, MembershipEvent, Plan
from tests.daily.conftest import make_membership, make_plan
from tests.fixtures import make_contact

T0 = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)


def _outbox() -> Counter[str]:
    return Counter(db.session.scalars(select(OutboxMessage.kind)).all())


def _daily_at(moment: datetime) -> dict[str, int]:
    with time_machine.travel(moment, tick=False):
        return run_daily()


def _status(membership_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Membership, membership_id).status


def test_renewal_reminders_go_once_each_across_repeated_runs(app):
    plan = make_plan()
    make_membership("ana@example.org", plan, paid_through=T0 + timedelta(days=30) - timedelta(hours=1))
    db.session.commit()

    for day in (0, 0, 1, 5, 20):
        _daily_at(T0 + timedelta(days=day))
    assert _outbox() == {"renewal_reminder": 1}
    for day in (23, 23, 24, 29):
        _daily_at(T0 + timedelta(days=day))
    assert _outbox() == {"renewal_reminder": 2}
    keys = sorted(db.session.scalars(select(OutboxMessage.dedupe_key)).all())
    assert [k.split(":")[0] for k in keys] == ["reminder30", "reminder7"]
    subjects = [m["Subject"] for m in MEMORY_OUTBOX]
    assert len(subjects) == 2 and all("ends on 31 March 2025" in s for s in subjects)


def test_reminder_comes_again_for_the_next_period(app):
    plan = make_plan()
    membership = make_membership("ana@example.org", plan, paid_through=T0 + timedelta(days=6))
    db.session.commit()
    _daily_at(T0)
    membership.paid_through = T0 + timedelta(days=365 + 6)  # renewed for a year
    db.session.commit()
    _daily_at(T0 + timedelta(days=365))
    assert _outbox() == {"renewal_reminder": 2}


def test_annual_charge_notice_only_for_auto_renewing_yearly_subscriptions(app):
    yearly, monthly = make_plan("standard", "year"), make_plan("monthly", "month", 300)
    life = make_plan("life", "lifetime", 50000)
    soon = T0 + timedelta(days=6)
    make_membership(
        "year@example.org", yearly, paid_through=soon, auto_renew=True, stripe_subscription_id="sub_y"
    )
    make_membership(
        "month@example.org", monthly, paid_through=soon, auto_renew=True, stripe_subscription_id="sub_m"
    )
    make_membership("life@example.org", life, paid_through=None)
    make_membership("comp@example.org", yearly, paid_through=None, complimentary=True)
    db.session.commit()
    _daily_at(T0)
    _daily_at(T0 + timedelta(days=1))
    assert _outbox() == {"annual_charge_notice": 1}
    notice = db.session.scalars(select(OutboxMessage)).one()
    assert notice.to_email == "year@example.org" and "£36.00" in notice.body_text


def test_monthly_plan_without_auto_renew_gets_only_the_seven_day_reminder(app):
    monthly = make_plan("monthly", "month", 300)
    make_membership("m@example.org", monthly, paid_through=T0 + timedelta(days=25))
    db.session.commit()
    _daily_at(T0)
    assert _outbox() == {}
    _daily_at(T0 + timedelta(days=19))
    assert _outbox() == {"renewal_reminder": 1}


def test_overdue_member_goes_to_grace_then_lapses_with_one_email(app):
    plan = make_plan()
    membership = make_membership("ana@example.org", plan, paid_through=T0 - timedelta(hours=1))
    db.session.commit()

    _daily_at(T0)
    assert _status(membership.id) == "grace"
    _daily_at(T0 + timedelta(days=10))
    assert _status(membership.id) == "grace"
    _daily_at(T0 + timedelta(days=31))
    assert _status(membership.id) == "lapsed"
    events = db.session.scalar(select(func.count()).select_from(MembershipEvent))
    _daily_at(T0 + timedelta(days=31))
    _daily_at(T0 + timedelta(days=32))
    assert db.session.scalar(select(func.count()).select_from(MembershipEvent)) == events
    assert _outbox()["membership_lapsed"] == 1
    lapsed = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "membership_lapsed")).one()
    assert lapsed.status == "sent" and "has ended" in lapsed.subject


def test_stale_pending_checkout_expires(app):
    plan = make_plan()
    pending = make_membership(
        "new@example.org",
        plan,
        paid_through=None,
        status="pending",
        pending_expires_at=T0 - timedelta(hours=1),
    )
    db.session.commit()
    summary = _daily_at(T0)
    assert summary["expired"] == 1
    assert _status(pending.id) == "expired"


def test_scheduled_post_is_published(app):
    from crm.news.models import Post

    post = Post(
        slug="spring", title="Spring campaign", status="scheduled", publish_at=T0 - timedelta(minutes=5)
    )
    db.session.add(post)
    db.session.commit()
    assert _daily_at(T0)["posts_published"] == 1
    db.session.expire_all()
    assert db.session.get(Post, post.id).status == "published"


def test_running_twice_changes_nothing_more(app):
    plan = make_plan()
    for i in range(5):
        make_membership(f"m{i}@example.org", plan, paid_through=T0 + timedelta(days=3 + i * 10))
    make_membership(
        "old@example.org",
        plan,
        paid_through=T0 - timedelta(days=40),
        status="grace",
        grace_until=T0 - timedelta(days=1),
    )
    db.session.commit()
    first = _daily_at(T0)
    assert first["reminders_7"] == 1 and first["reminders_30"] == 2 and first["lapsed_after_grace"] == 1
    second = _daily_at(T0)
    changes = {k: v for k, v in second.items() if v and not k.startswith("outbox")}
    assert changes == {}


def _count_queries(members: int) -> int:
    plan = db.session.scalar(select(Plan)) or make_plan()
    for i in range(members):
        contact = make_contact(f"q{members}-{i}@example.org")
        make_membership(contact, plan, paid_through=T0 + timedelta(days=(i % 40) - 5))
    db.session.commit()
    statements: list[str] = []

    def count(*args):  # type: ignore[no-untyped-def]
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        _daily_at(T0)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.execute(delete(OutboxMessage))
    db.session.commit()
    return len(statements)


def test_daily_run_uses_the_same_number_of_queries_for_10_or_200_members(app, monkeypatch):
    """Set-based: the work before sending (which is one SMTP exchange per message) does not grow."""
    monkeypatch.setattr("crm.memberships.daily.sweep_outbox", lambda: {})
    small = _count_queries(10)
    large = _count_queries(200)
    assert large <= small + 4, (small, large)


def test_flask_crm_daily_prints_what_it_did(app, runner):
    plan = make_plan()
    make_membership("ana@example.org", plan, paid_through=T0 + timedelta(days=5))
    db.session.commit()
    with time_machine.travel(T0, tick=False):
        result = runner.invoke(args=["crm", "daily"])
    assert result.exit_code == 0, result.output
    assert "reminders 7: 1" in result.output
    assert _outbox() == {"renewal_reminder": 1}


@pytest.mark.parametrize(
    "kind", ["renewal_reminder", "annual_charge_notice", "membership_lapsed", "payment_failed"]
)
def test_every_notice_has_text_html_and_the_footer(app, kind):
    from crm.email.services import render_email

    subject, text, html = render_email(
        kind,
        {
            "first_name": "Ana",
            "plan_name": "Standard",
            "paid_through": T0,
            "charge_date": T0,
            "amount": 3600,
            "currency": "gbp",
            "days_left": 7,
        },
    )
    assert subject and "Ana" in text and "Ana" in html
    assert "http://crm.test/account" in text and "http://crm.test/account" in html
    assert app.config["ORG_ADDRESS"] in text and app.config["ORG_ADDRESS"] in html


def test_the_daily_run_runs_the_steps_events_billing_and_news_register_in_their_order(app):
    from crm.memberships.daily import daily_steps

    assert [key for key, _ in daily_steps(app)] == [
        "event_reminders",
        "event_holds_released",
        "card_expiry_notices",
        "posts_published",
    ]
    keys = list(_daily_at(T0))
    steps = ["event_reminders", "event_holds_released", "card_expiry_notices", "posts_published"]
    assert all(key in keys for key in steps)
    assert [keys.index(key) for key in steps] == sorted(keys.index(key) for key in steps)
    assert keys.index("charge_notices") < keys.index("event_reminders")  # after the membership steps


def test_a_spanish_member_gets_the_daily_runs_emails_in_spanish_with_the_plans_spanish_name(app):
    plan = make_plan()
    plan.name, plan.name_es = "Supporter", "Simpatizante"
    soon = T0 + timedelta(days=5)
    spanish = make_contact("ana@example.org", preferred_language="es")
    make_membership(spanish, plan, paid_through=soon)  # the 7-day reminder
    make_membership("ben@example.org", plan, paid_through=soon)
    make_membership(make_contact("carla@example.org", preferred_language="es"), plan, paid_through=soon,
                    auto_renew=True, stripe_subscription_id="sub_es")  # the annual charge notice  # fmt: skip
    make_membership(make_contact("dani@example.org", preferred_language="es"), plan,
                    paid_through=T0 - timedelta(days=40), status="grace", grace_until=T0 - timedelta(days=1))  # fmt: skip
    db.session.commit()
    _daily_at(T0)
    sent = {str(m["To"]): m.get_body(preferencelist=("plain",)).get_content() for m in MEMORY_OUTBOX}
    assert sorted(sent) == ["ana@example.org", "ben@example.org", "carla@example.org", "dani@example.org"]
    for to in ("ana@example.org", "carla@example.org", "dani@example.org"):
        assert "Tu afiliación Simpatizante" in sent[to] and "Supporter" not in sent[to], to
    assert "está pagada hasta" in sent["ana@example.org"]
    assert (
        "Your Supporter membership" in sent["ben@example.org"]
        and "Simpatizante" not in sent["ben@example.org"]
    )
