"""News: the list, one post, who may read members-only posts, the Atom feed, and query counts."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

import pytest
from sqlalchemy import event

from crm.core.types import utcnow
from crm.extensions import db
from tests.fixtures import make_user
from tests.members_area.factories import make_post, sign_in

SECRET = "The ceasefire covers three regions"


def _sign_in(client, who, request):  # type: ignore[no-untyped-def]
    if who == "anonymous":
        return client
    if who == "never_member":
        return sign_in(client, make_user("nobody@example.org"))
    if who in ("staff", "editor"):
        return sign_in(client, make_user(f"{who}@example.org", who))
    return sign_in(client, request.getfixturevalue(who))


def test_public_post_is_readable_by_anyone(client):
    post = make_post("Urgent appeal", body="Write to the ambassador **today**.")
    db.session.commit()
    page = client.get(f"/news/{post.slug}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Urgent appeal" in html
    assert "<strong>today</strong>" in html


@pytest.mark.parametrize(
    ("who", "reads_body", "sees"),
    [
        ("anonymous", False, None),
        ("never_member", False, "Become a member"),
        ("lapsed_member", False, "Renew your membership"),
        ("active_member", True, None),
        ("staff", True, None),
        ("editor", True, None),
    ],
)
def test_members_only_post_visibility(client, request, who, reads_body, sees):
    post = make_post("Members briefing", visibility="members", body=SECRET)
    db.session.commit()
    _sign_in(client, who, request)
    page = client.get(f"/news/{post.slug}")
    html = page.get_data(as_text=True)
    if who == "anonymous":
        assert page.status_code == 302
        assert "/login" in page.headers["Location"]
        return
    assert page.status_code == 200
    assert (SECRET in html) is reads_body
    if sees:
        assert sees in html
    if who == "lapsed_member":
        assert "Lapsed" in html


@pytest.mark.parametrize("who", ["anonymous", "lapsed_member", "active_member"])
def test_news_list_shows_members_only_posts_as_teasers_without_access(client, request, who):
    make_post("Public story", body="Public body")
    make_post("Members story", visibility="members", body=SECRET, summary="A teaser for members")
    db.session.commit()
    _sign_in(client, who, request)
    html = client.get("/news").get_data(as_text=True)
    assert "Public story" in html and "Members story" in html
    assert "A teaser for members" in html
    assert SECRET not in html  # the list never shows a body
    if who == "anonymous":
        assert "Sign in</a> to read this" in html
    elif who == "lapsed_member":
        assert "Renew your membership</a> to read this" in html
    else:
        assert "to read this" not in html


@pytest.mark.parametrize("kind", ["draft", "future"])
def test_unpublished_and_future_posts_are_404_except_for_staff(client, active_member, kind):
    if kind == "draft":
        post = make_post("Draft", status="draft")
    else:
        post = make_post("Scheduled", status="published", published_at=utcnow() + timedelta(days=2))
    db.session.commit()
    assert client.get(f"/news/{post.slug}").status_code == 404
    assert post.title not in client.get("/news").get_data(as_text=True)
    sign_in(client, active_member)
    assert client.get(f"/news/{post.slug}").status_code == 404
    sign_in(client, make_user("staff@example.org", "staff"))
    assert client.get(f"/news/{post.slug}").status_code == 200


def test_unknown_post_is_404(client):
    assert client.get("/news/no-such-post").status_code == 404


def test_news_is_newest_first_and_paginated(client):
    now = utcnow()
    for n in range(25):
        make_post(f"Story {n:02d}", published_at=now - timedelta(days=n))
    db.session.commit()
    first = client.get("/news").get_data(as_text=True)
    assert first.count('class="post-title"') == 10
    assert first.index("Story 00") < first.index("Story 01") < first.index("Story 09")
    assert "Story 10" not in first
    assert "Page 1" in first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get("/news?page=2").get_data(as_text=True)
    assert 'rel="next"' in second and 'rel="prev"' in second
    third = client.get("/news?page=3").get_data(as_text=True)
    assert third.count('class="post-title"') == 5
    assert "Story 24" in third
    assert 'rel="prev"' in third and 'rel="next"' not in third
    assert client.get("/news?page=9").status_code == 404
    assert client.get("/news?page=abc").status_code == 200


def test_feed_lists_only_public_posts_with_absolute_links(client):
    public = make_post("Public news", body="<b>bold</b> & more")
    make_post("Members news", visibility="members", body=SECRET)
    make_post("Draft news", status="draft")
    db.session.commit()
    response = client.get("/news/feed.xml")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(response.data)  # noqa: S314  (our own output)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert titles == ["Public news"]
    link = root.find("a:entry/a:link", ns)
    assert link is not None and link.get("href") == f"http://crm.test/news/{public.slug}"
    assert SECRET not in response.get_data(as_text=True)


def test_feed_links_use_base_url_not_the_request_host(client):
    make_post("Public news")
    db.session.commit()
    body = client.get("/news/feed.xml", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "evil.example" not in body
    assert "http://crm.test/news/" in body


def test_home_page_lists_only_public_posts(client):
    make_post("Public headline")
    make_post("Members headline", visibility="members")
    db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "Public headline" in html
    assert "Members headline" not in html


def _statements_for(client, path: str) -> int:
    statements: list[str] = []
    # The test keeps one app context (and so one `g`) for all requests: warm up per-request caches
    # such as the navigation pages, so both measurements see the same state.
    client.get(path)

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(statements)


@pytest.mark.parametrize("who", ["anonymous", "active_member"])
def test_news_list_query_count_does_not_grow_with_posts(client, request, who):
    _sign_in(client, who, request)
    for n in range(5):
        make_post(visibility="members" if n % 2 else "public")
    db.session.commit()
    few = _statements_for(client, "/news")
    for n in range(45):
        make_post(visibility="members" if n % 2 else "public")
    db.session.commit()
    many = _statements_for(client, "/news")
    assert few == many


def test_the_members_only_notice_is_in_the_readers_language(client, lapsed_member):
    """A lapsed member reading in Spanish is told why, and how to renew, in Spanish."""
    post = make_post("Members briefing", visibility="members", body=SECRET)
    db.session.commit()
    sign_in(client, lapsed_member)
    client.get("/language/es")
    html = client.get(f"/news/{post.slug}").get_data(as_text=True)
    assert 'aria-label="Solo para socios"' in html
    assert 'Tu afiliación está en estado <span class="badge badge-lapsed">Caducada</span>' in html
    assert "Renueva tu afiliación" in html and "Ver tu afiliación" in html
    for english in ("Your membership is", "Lapsed", "Renew your membership", "See your membership"):
        assert english not in html


def test_the_news_page_is_in_spanish_for_a_spanish_browser(client):
    make_post("Public story", body="Public body")
    db.session.commit()
    html = client.get("/news", headers={"Accept-Language": "es-ES,es;q=0.9"}).get_data(as_text=True)
    assert "<h1>Noticias y novedades</h1>" in html
    assert "de lo más reciente a lo más antiguo" in html and "Feed Atom de las noticias públicas" in html
    assert "News and updates" not in html and "newest first" not in html
