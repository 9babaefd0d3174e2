"""The busiest page stays cheap: few queries, a cached navigation, a session cookie not re-signed
on every response, and post links that still lead to the posts."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import event

from crm.core.types import utcnow
from crm.extensions import db
from crm.news.models import Page
from tests.members_area.factories import make_post, sign_in


def _statements(client, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return seen


def test_signed_in_member_news_list_takes_three_queries(client, active_member):
    sign_in(client, active_member)
    for n in range(15):
        make_post(f"Story {n}", visibility="members" if n % 2 else "public")
    db.session.add(Page(slug="about", title="About us", show_in_nav=True))
    db.session.commit()
    client.get("/news")  # the navigation is cached after the first page
    statements = _statements(client, "/news")
    # the user with their session row, the membership status, the page of posts (no count)
    assert len(statements) == 3, statements
    assert not any("count(" in s.lower() for s in statements)


def test_post_links_in_the_list_open_the_posts(client, active_member):
    sign_in(client, active_member)
    post = make_post("Letter to the minister", visibility="members", body="Sign the letter.")
    db.session.commit()
    html = client.get("/news").get_data(as_text=True)
    assert f'href="/news/{post.slug}"' in html
    assert "Sign the letter." in client.get(f"/news/{post.slug}").get_data(as_text=True)


def test_navigation_shows_a_saved_page_at_once_in_this_process(client):
    db.session.add(Page(slug="about", title="About us", show_in_nav=True))
    db.session.commit()
    assert "About us" in client.get("/news").get_data(as_text=True)
    page = db.session.query(Page).filter_by(slug="about").one()
    page.title = "Who we are"
    db.session.add(Page(slug="gift-aid", title="Gift Aid statement", show_in_nav=True))
    db.session.commit()
    html = client.get("/news").get_data(as_text=True)
    assert "Who we are" in html and "About us" not in html
    assert "Gift Aid statement" in html
    page.show_in_nav = False
    db.session.commit()
    assert "Who we are" not in client.get("/news").get_data(as_text=True)


def test_navigation_is_read_once_while_pages_do_not_change(client):
    db.session.add(Page(slug="about", title="About us", show_in_nav=True))
    db.session.commit()
    client.get("/news")
    statements = _statements(client, "/news")
    assert not any("site_page" in s for s in statements)


def test_session_cookie_is_not_re_signed_on_every_response(client, active_member):
    start = utcnow()
    with time_machine.travel(start, tick=False) as clock:
        sign_in(client, active_member)
        client.get("/news")
        clock.shift(timedelta(seconds=10))
        assert client.get("/news").headers.get("Set-Cookie") is None
        clock.shift(timedelta(seconds=61))
        refreshed = client.get("/news")
        assert "session=" in (refreshed.headers.get("Set-Cookie") or "")


def test_active_member_stays_signed_in_while_reading_and_times_out_when_idle(app, client, active_member):
    idle = app.permanent_session_lifetime
    start = utcnow()
    with time_machine.travel(start, tick=False) as clock:
        sign_in(client, active_member)
        for _ in range(3):  # active for longer than the idle timeout, a request now and then
            clock.shift(idle - timedelta(minutes=5))
            assert "Sign out" in client.get("/news").get_data(as_text=True)
        clock.shift(idle + timedelta(seconds=1))
        assert "Sign out" not in client.get("/news").get_data(as_text=True)


def test_lapsed_member_still_sees_the_renew_teaser(client, lapsed_member):
    sign_in(client, lapsed_member)
    make_post("Members briefing", visibility="members")
    db.session.commit()
    html = client.get("/news").get_data(as_text=True)
    assert "Renew your membership" in html


def test_member_whose_membership_lapses_loses_access_on_the_next_page(client, active_member):
    from crm.memberships.models import Membership

    sign_in(client, active_member)
    make_post("Members briefing", visibility="members")
    db.session.commit()
    assert "Renew your membership" not in client.get("/news").get_data(as_text=True)
    membership = db.session.query(Membership).filter_by(contact_id=active_member.contact_id).one()
    membership.status = "lapsed"
    db.session.commit()
    assert "Renew your membership" in client.get("/news").get_data(as_text=True)
