"""The busiest page stays cheap: few queries, a cached navigation, a session cookie not re-signed
on every response, and post links that still lead to the posts."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from crm.core.types import utcnow
from crm.extensions import db
from crm.news.models import Page
from tests.members_area.factories import make_post, sign_in


def _statements(client, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    from tests.bench_guards.conftest import statements

    with statements() as seen:
        assert client.get(path).status_code == 200
    return seen


def test_signed_in_member_news_list_takes_one_query(client, active_member):
    sign_in(client, active_member)
    for n in range(15):
        make_post(f"Story {n}", visibility="members" if n % 2 else "public")
    db.session.add(Page(slug="about", title="About us", show_in_nav=True))
    db.session.commit()
    client.get("/news")  # the navigation and the list are cached after the first page
    statements = _statements(client, "/news")
    # the user with their live session row and their membership's status, in one statement
    assert len(statements) == 1, statements
    assert "user_session" in statements[0] and "membership" in statements[0]
    assert not any("count(" in s.lower() for s in statements)


def test_the_first_reader_of_a_page_costs_two_queries_and_no_count(client, active_member):
    sign_in(client, active_member)
    for n in range(15):
        make_post(f"Story {n}")
    db.session.commit()
    client.get("/news")  # the navigation is cached after the first page
    statements = _statements(client, "/news?page=2")
    assert len(statements) == 2, statements  # the user, then the page of posts (one row extra)
    assert not any("count(" in s.lower() for s in statements)


def test_a_post_published_in_this_process_is_listed_at_once(client, active_member):
    sign_in(client, active_member)
    make_post("Older story")
    db.session.commit()
    assert "Older story" in client.get("/news").get_data(as_text=True)
    make_post("Breaking: court ruling")
    db.session.commit()
    assert "Breaking: court ruling" in client.get("/news").get_data(as_text=True)


def test_members_only_teasers_depend_on_who_reads_not_on_who_read_first(client, app, active_member):
    post = make_post("Briefing for members", visibility="members", body="Only for members.")
    db.session.commit()
    anonymous = app.test_client()
    assert "Sign in</a> to read this" in anonymous.get("/news").get_data(as_text=True)
    sign_in(client, active_member)
    html = client.get("/news").get_data(as_text=True)
    assert f'href="/news/{post.slug}"' in html and "to read this" not in html
    assert "Sign in</a> to read this" in anonymous.get("/news").get_data(as_text=True)


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
