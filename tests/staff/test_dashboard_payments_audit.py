"""The dashboard's work list and figures (SQL aggregates), the payments list and the audit trail."""

from __future__ import annotations

import re
from datetime import timedelta

from crm.audit.services import record
from crm.core.types import utcnow
from crm.extensions import db
from tests.fixtures import make_contact
from tests.staff.conftest import count_queries, declare_gift_aid, make_membership, make_payment, make_plan


def seed(app, extra: int = 0):  # type: ignore[no-untyped-def]
    now = utcnow()
    plan = make_plan("standard-yearly", gift_aid_eligible=True)
    org = make_plan("organisation-yearly", 12000, gift_aid_eligible=False)
    due = make_contact("due@example.org", first_name="Dee", last_name="Due")
    m = make_membership(due, plan, "active", paid_days=10, joined_days_ago=5)
    make_payment(due, m, 3600, paid_at=now - timedelta(minutes=5))
    declare_gift_aid(due)
    grace = make_contact("grace@example.org", first_name="Grace", last_name="Late")
    make_membership(grace, plan, "grace", paid_days=-5, grace_until=now + timedelta(days=25))
    disputed = make_contact("dispute@example.org", first_name="Dis", last_name="Puted")
    dm = make_membership(disputed, org, "active", paid_days=300)
    make_payment(disputed, dm, 12000, disputed_at=now, paid_at=now - timedelta(days=40))
    lapsed = make_contact("lapsed@example.org", first_name="Lap", last_name="Sed")
    make_membership(lapsed, plan, "lapsed", paid_days=-60, ended_at=now - timedelta(days=20))
    forget = make_contact("forget@example.org", first_name="For", last_name="Get")
    forget.erasure_requested_at = now
    donor = make_contact("donor@example.org", first_name="Don", last_name="Or")
    make_payment(donor, None, 5000, paid_at=now - timedelta(minutes=1))
    make_payment(donor, None, 999, status="failed", paid_at=now - timedelta(minutes=1))
    for i in range(extra):
        c = make_contact(f"extra{i}@example.org", first_name="Extra", last_name=str(i))
        make_membership(c, plan, "active", paid_days=5 + i)
        make_payment(c, None, 100 + i, paid_at=now - timedelta(days=30 * (i % 20)))
    db.session.commit()


def section(html: str, key: str) -> str:
    match = re.search(rf'id="work-{key}">(.*?)</section>', html, re.S)
    assert match, key
    return match.group(1)


def test_dashboard_work_list(staff_client, app):  # type: ignore[no-untyped-def]
    seed(app)
    html = staff_client.get("/staff").get_data(as_text=True)
    assert "Dee Due" in section(html, "renewals")
    assert "Grace Late" in section(html, "failing")
    assert "Dis Puted" in section(html, "disputes")
    assert "Lap Sed" in section(html, "lapsed")
    assert "For Get" in section(html, "erasure")
    gift = section(html, "gift_aid")
    assert "Grace Late" in gift and "Dee Due" not in gift and "Dis Puted" not in gift


def test_dashboard_figures_and_chart(staff_client, app):  # type: ignore[no-untyped-def]
    seed(app)
    html = staff_client.get("/staff").get_data(as_text=True)
    assert re.search(r"badge-active\">Active</span> <strong>2</strong>", html)
    assert re.search(r"Joined in the last 30 days <strong>1</strong>", html)
    assert re.search(r"Lapsed in the last 30 days <strong>1</strong>", html)
    # This month's income: £36 membership and a £50 donation; the failed attempt is not income.
    month = html.split("<h3>This month</h3>")[1].split("</table>")[0]
    assert "Donations" in month and "£50.00" in month and "£9.99" not in month and "£86.00" in month
    assert "<svg" in html and html.count('class="chart-bar"') == 24
    assert "<script" not in html.split("<main")[1]


def test_dashboard_queries_do_not_grow_with_members(staff_client, app):  # type: ignore[no-untyped-def]
    seed(app)
    staff_client.get("/staff")
    db.session.commit()
    with count_queries() as few:
        staff_client.get("/staff")
    seed_more = make_plan("extra-plan")
    for i in range(25):
        c = make_contact(f"more{i}@example.org")
        make_membership(c, seed_more, "active", paid_days=3)
        make_payment(c, None, 100, paid_at=utcnow() - timedelta(days=31 * (i % 23)))
    db.session.commit()
    with count_queries() as many:
        staff_client.get("/staff")
    assert len(few) == len(many)


def test_payments_default_to_this_month_with_sql_totals(staff_client, app):  # type: ignore[no-untyped-def]
    seed(app)
    html = staff_client.get("/staff/payments").get_data(as_text=True)
    assert "Received <strong>£86.00</strong>" in html  # the disputed one was 40 days ago
    assert "Failed attempts <strong>1</strong>" in html
    cheques = staff_client.get("/staff/payments?method=cheque").get_data(as_text=True)
    assert "Received <strong>£0.00</strong>" in cheques
    wide = (utcnow() - timedelta(days=60)).date().isoformat()
    html = staff_client.get(f"/staff/payments?date_from={wide}&kind=membership").get_data(as_text=True)
    assert "Received <strong>£156.00</strong>" in html
    assert staff_client.get("/staff/payments?date_from=garbage&method=bogus&page=x").status_code == 200


def test_payments_first_visit_shows_no_filter_errors(staff_client, app):  # type: ignore[no-untyped-def]
    response = staff_client.get("/staff/payments")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Not a valid choice" not in html and "error-message" not in html


def test_audit_trail_filters(staff_client, staff_user, app):  # type: ignore[no-untyped-def]
    record("export.members", actor_label="someone@example.org", detail="3 rows")
    record("member.update", actor_label="other@example.org", detail="changed town")
    db.session.commit()
    html = staff_client.get("/staff/audit?action=export").get_data(as_text=True)
    assert "3 rows" in html and "changed town" not in html
    html = staff_client.get("/staff/audit?actor=OTHER").get_data(as_text=True)
    assert "changed town" in html and "3 rows" not in html
    html = staff_client.get("/staff/audit", query_string={"actor": "%", "action": "_"}).get_data(as_text=True)
    assert "0 events" in html
    assert staff_client.get("/staff/audit?date_from=2020-13-45").status_code == 200


def test_dashboard_queries_do_not_grow_with_members_when_uncached(staff_client, app):  # type: ignore[no-untyped-def]
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    seed(app)
    staff_client.get("/staff")
    db.session.commit()
    with count_queries() as few:
        staff_client.get("/staff")
    plan = make_plan("more-plan")
    for i in range(25):
        c = make_contact(f"more{i}@example.org")
        make_membership(c, plan, "active", paid_days=3)
        make_payment(c, None, 100, paid_at=utcnow() - timedelta(days=31 * (i % 23)))
    db.session.commit()
    with count_queries() as many:
        staff_client.get("/staff")
    assert len(few) == len(many)


def test_dashboard_figures_are_reused_for_a_minute_and_say_when(staff_client, app):  # type: ignore[no-untyped-def]
    seed(app)
    first = staff_client.get("/staff").get_data(as_text=True)
    assert re.search(r"Figures as of \d\d:\d\d (GMT|BST)", first)
    make_payment(make_contact("late@example.org"), None, 7000, paid_at=utcnow())
    db.session.commit()
    with count_queries() as cached:
        again = staff_client.get("/staff").get_data(as_text=True)
    assert "£70.00" not in again.split("<h3>This month</h3>")[1].split("</table>")[0]
    assert not [s for s in cached if "payment" in s.lower()]
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    fresh = staff_client.get("/staff").get_data(as_text=True)
    assert "£156.00" in fresh.split("<h3>This month</h3>")[1].split("</table>")[0]


def test_monthly_series_counts_members_at_each_month_end(app):  # type: ignore[no-untyped-def]
    from crm.staff.dashboard import monthly_series

    now = utcnow()
    plan = make_plan()
    stayed = make_contact("stay@example.org")
    make_membership(stayed, plan, "active", joined_days_ago=400)
    left = make_contact("left@example.org")
    make_membership(left, plan, "lapsed", joined_days_ago=300, ended_at=now - timedelta(days=100))
    make_payment(stayed, None, 2500, paid_at=now - timedelta(days=200))
    make_payment(stayed, None, 999, status="failed", paid_at=now - timedelta(days=200))
    db.session.commit()
    series = monthly_series(now)
    assert len(series) == 24 and series[-1]["members"] == 1
    assert max(point["members"] for point in series) == 2
    assert series[0]["members"] == 0  # 23 months ago neither had joined
    assert sum(point["income"] for point in series) == 2500


def test_an_expired_dashboard_is_served_at_once_while_the_next_copy_is_computed(
    staff_client, app, monkeypatch
):  # type: ignore[no-untyped-def]
    """Past its minute, staff get the last copy straight away; a background thread computes the
    next one, which the following page shows."""
    import threading

    import time_machine

    from crm.staff import dashboard

    seed(app)
    app.config["DASHBOARD_REFRESH_IN_BACKGROUND"] = True
    start = utcnow()
    with time_machine.travel(start, tick=False):
        staff_client.get("/staff")
        make_payment(make_contact("late@example.org"), None, 7000, paid_at=start)
        db.session.commit()
    computing = threading.Event()
    release = threading.Event()
    real = dashboard.dashboard_figures

    def slow_figures(now):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "dashboard-refresh":
            computing.set()
            release.wait(10)
        return real(now)

    monkeypatch.setattr(dashboard, "dashboard_figures", slow_figures)
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        stale = staff_client.get("/staff").get_data(as_text=True)  # not kept waiting
        assert computing.wait(10)
        assert "£156.00" not in stale.split("<h3>This month</h3>")[1].split("</table>")[0]
        release.set()
        for _ in range(100):
            if not app.extensions["crm_dashboard_cache"].get("refreshing"):
                break
            threading.Event().wait(0.05)
        fresh = staff_client.get("/staff").get_data(as_text=True)
    assert "£156.00" in fresh.split("<h3>This month</h3>")[1].split("</table>")[0]


def _start_a_join(app, email: str) -> None:  # type: ignore[no-untyped-def]
    """Someone fills in the join form and leaves at Stripe's page without paying."""
    from sqlalchemy import select

    from crm.memberships.models import Plan
    from tests.fixtures import csrf_token
    from tests.join.test_join_form import form
    from tests.memberships.factories import make_plans

    plans = {p.slug: p for p in db.session.scalars(select(Plan))} or make_plans()
    db.session.commit()
    visitor = app.test_client()
    data = form(plans, email=email, first_name="Mid", last_name="Join")
    if app.config.get("WTF_CSRF_ENABLED", True):
        data["csrf_token"] = csrf_token(visitor, "/join")
    assert visitor.post("/join", data=data).status_code == 303


def test_abandoned_joins_expire_out_of_the_pending_count_and_are_shown_apart(
    staff_client, staff_user, app, stripe_sandbox
):  # type: ignore[no-untyped-def]
    import time_machine

    from crm.staff.dashboard import members_by_status

    _start_a_join(app, "midjoin@example.org")
    assert dict(members_by_status()).get("pending") == 1
    listing = staff_client.get("/staff/members").get_data(as_text=True)
    assert "mid-join (not paid yet)" in listing
    assert "staff account" in listing  # the signed-in staff user is not listed as a supporter
    earlier = utcnow() - timedelta(hours=int(app.config["PENDING_EXPIRY_HOURS"]) + 1)
    with time_machine.travel(earlier, tick=False):
        _start_a_join(app, "abandoned@example.org")
    assert dict(members_by_status()).get("pending") == 1  # the abandoned one has expired out
    assert "abandoned join" in staff_client.get("/staff/members").get_data(as_text=True)
