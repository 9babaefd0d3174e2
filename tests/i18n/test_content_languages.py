"""A news post or page in two languages: staff write both; a reader gets theirs, the other one
when theirs is missing, and a link to the other language when both exist; the list, the menu
and the feed follow the same rule."""

from __future__ import annotations

from sqlalchemy import select

from crm.extensions import db
from crm.news.models import Page, Post
from tests.fixtures import csrf_token


def _write_post(editor_client, **fields: str) -> Post:  # type: ignore[no-untyped-def]
    token = csrf_token(editor_client, "/staff/news/new")
    data = {"csrf_token": token, "title": "Delegation report", "slug": "", "summary": "What we saw.",
            "body": "We met **community guards**.", "visibility": "public", "language": "en",
            "translated_title": "", "translated_summary": "", "translated_body": "", "action": "save", **fields}  # fmt: skip
    assert editor_client.post("/staff/news/new", data=data).status_code == 302
    post = db.session.scalar(select(Post).order_by(Post.id.desc()))
    editor_client.post(f"/staff/news/{post.id}/publish", data={"csrf_token": token})
    db.session.expire_all()
    return db.session.get(Post, post.id)


def test_a_post_in_both_languages_shows_each_reader_theirs_with_a_link_to_the_other(
    editor_client, app
) -> None:  # type: ignore[no-untyped-def]
    post = _write_post(
        editor_client,
        translated_title="Informe de la delegación",
        translated_summary="Lo que vimos.",
        translated_body="Nos reunimos con **guardias comunitarias**.<script>x()</script>",
    )
    assert post.status == "published" and "<script>" not in post.translated_body_html
    visitor = app.test_client()
    spanish = visitor.get(f"/news/{post.slug}", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Informe de la delegación" in spanish and "<strong>guardias comunitarias</strong>" in spanish
    assert f'href="/news/{post.slug}?lang=en"' in spanish and "Read in English" in spanish
    english = visitor.get(f"/news/{post.slug}?lang=en", headers={"Accept-Language": "es"}).get_data(
        as_text=True
    )
    assert "<strong>community guards</strong>" in english
    assert "Informe de la delegación" in visitor.get("/news", headers={"Accept-Language": "es"}).get_data(
        as_text=True
    )
    assert "Delegation report" in visitor.get("/news", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    feed = visitor.get("/news/feed.xml?lang=es").get_data(as_text=True)
    assert "<title>Informe de la delegación</title>" in feed


def test_a_post_in_one_language_is_shown_to_everyone_without_a_link(editor_client, app) -> None:  # type: ignore[no-untyped-def]
    post = _write_post(editor_client, title="Carta desde Valle Hondo", body="Una carta.", language="es")
    html = (
        app.test_client().get(f"/news/{post.slug}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    )
    assert "Carta desde Valle Hondo" in html and 'lang="es"' in html
    assert "Read in English" not in html and "Leer en español" not in html


def test_a_page_in_both_languages_and_its_menu_entry(app, client) -> None:  # type: ignore[no-untyped-def]
    from crm.news.translations import save_translation

    page = Page(
        slug="about", title="About us", body_markdown="We **stand** with.", body_html="<p>We stand with.</p>"
    )
    save_translation(page, language="en", title="Quiénes somos", body_markdown="Estamos **con** ellos.")
    db.session.add(page)
    db.session.commit()
    client.get("/language/es")
    home = client.get("/").get_data(as_text=True)
    assert ">Quiénes somos</a>" in home
    spanish = client.get("/pages/about").get_data(as_text=True)
    assert "<strong>con</strong>" in spanish and "Read in English" in spanish
