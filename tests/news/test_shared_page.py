"""/news is rendered once per page, teaser and menu and shared (crm.core.templating.render_shared):
each reader still gets their own CSRF token, their own menu and their own flashed messages."""

from __future__ import annotations

import re

from crm.extensions import db
from crm.news.models import Page
from tests.fixtures import make_user
from tests.members_area.factories import make_post, sign_in

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_two_members_sharing_the_cached_page_each_get_their_own_token_and_can_sign_out(
    app, active_member, other_member
):
    make_post("Shared story")
    db.session.commit()
    ana, bea = sign_in(app.test_client(), active_member), sign_in(app.test_client(), other_member)
    first, second = ana.get("/news").get_data(as_text=True), bea.get("/news").get_data(as_text=True)
    assert "Shared story" in first and "Shared story" in second
    ana_token, bea_token = TOKEN.search(first).group(1), TOKEN.search(second).group(1)
    assert ana_token != bea_token and "csrf-" not in first + second
    # Her token again (the signed form carries the second it was signed in, so compare what it signs).
    again = TOKEN.search(ana.get("/news").get_data(as_text=True)).group(1)
    assert again.split(".")[0] == ana_token.split(".")[0] != bea_token.split(".")[0]
    assert bea.post("/logout", data={"csrf_token": ana_token}).status_code == 400  # not hers
    assert bea.post("/logout", data={"csrf_token": bea_token}).status_code == 302
    assert "Sign out" not in bea.get("/news").get_data(as_text=True)
    assert "Sign out" in ana.get("/news").get_data(as_text=True)


def test_each_reader_sees_the_menu_of_their_role_whoever_read_the_page_first(app, active_member):
    make_post("Menu story")
    db.session.commit()
    member = sign_in(app.test_client(), active_member)
    editor = sign_in(app.test_client(), make_user("ed@example.org", role="editor"))
    visitor = app.test_client()
    assert "My account" in member.get("/news").get_data(as_text=True)
    editor_page = editor.get("/news").get_data(as_text=True)
    assert "News editor" in editor_page and "Sign out" in editor_page
    visitor_page = visitor.get("/news").get_data(as_text=True)
    assert (
        "Become a member" in visitor_page
        and "Sign out" not in visitor_page
        and "My account" not in visitor_page
    )
    assert "News editor" not in member.get("/news").get_data(as_text=True)


def test_a_flashed_message_is_shown_to_its_reader_only_and_once(app, active_member, other_member):
    make_post("Flash story")
    db.session.commit()
    ana, bea = sign_in(app.test_client(), active_member), sign_in(app.test_client(), other_member)
    bea.get("/news")  # the shared page is cached
    with ana.session_transaction() as stored:
        stored["_flashes"] = [("success", "Your details were saved.")]
    assert "Your details were saved." in ana.get("/news").get_data(as_text=True)
    assert "Your details were saved." not in bea.get("/news").get_data(as_text=True)
    assert "Your details were saved." not in ana.get("/news").get_data(as_text=True)


def test_a_new_menu_page_shows_on_the_cached_news_page_at_once(client, active_member):
    sign_in(client, active_member)
    make_post("Menu change story")
    db.session.commit()
    assert "Our history" not in client.get("/news").get_data(as_text=True)
    db.session.add(Page(slug="history", title="Our history", show_in_nav=True))
    db.session.commit()
    assert 'href="/pages/history">Our history' in client.get("/news").get_data(as_text=True)


def test_the_page_is_rendered_once_for_readers_of_the_same_kind(
    app, active_member, other_member, monkeypatch
):
    from crm.core import templating

    make_post("Counted story")
    db.session.commit()
    renders: list[str] = []
    real = templating.render_template
    monkeypatch.setattr(
        templating, "render_template", lambda name, **c: renders.append(name) or real(name, **c)
    )
    for user in (active_member, other_member, active_member):
        assert sign_in(app.test_client(), user).get("/news").status_code == 200
    assert renders.count("news/index.html") == 1
