"""Writing, sanitising, previewing, publishing, scheduling and emailing news."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import g
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.news.models import Post
from crm.news.publishing import publish_due_posts
from tests.fixtures import make_contact, make_user, sign_in_as

NASTY = (
    "Hello **world**\n\n<script>alert(1)</script>\n\n"
    '<img src="x.png" onerror="alert(2)">\n\n[click](javascript:alert(3)) <a href="https://ok.example/">ok</a>'
)


def _new_post(client, **overrides):  # type: ignore[no-untyped-def]
    data = {"title": "Trade unionists freed", "slug": "", "summary": "Good news.", "body": "Body **text**.",
            "visibility": "public", "action": "save"}  # fmt: skip
    data.update(overrides)
    return client.post("/staff/news/new", data=data)


def _as_visitor(app, path: str):  # type: ignore[no-untyped-def]
    """GET as a signed-out visitor (the test's app context shares `g`, where Flask-Login caches the user)."""
    g.pop("_login_user", None)
    response = app.test_client().get(path)
    g.pop("_login_user", None)
    return response


def _post(slug: str = "trade-unionists-freed") -> Post:
    return db.session.scalar(select(Post).where(Post.slug == slug))


def test_saving_a_post_sanitises_the_body_and_makes_a_slug(editor_client):
    response = _new_post(editor_client, body=NASTY)
    assert response.status_code == 302
    post = _post()
    assert post.status == "draft"
    assert "<strong>world</strong>" in post.body_html
    lowered = post.body_html.lower()
    assert "<script" not in lowered and "onerror" not in lowered and 'href="javascript' not in lowered
    assert 'href="https://ok.example/"' in post.body_html
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "news.create")
        )
        == 1
    )


def test_same_title_gets_a_unique_slug_and_a_taken_slug_is_refused(editor_client):
    _new_post(editor_client)
    _new_post(editor_client)
    assert _post("trade-unionists-freed-2") is not None
    response = _new_post(editor_client, title="Other", slug="trade-unionists-freed")
    assert response.status_code == 200
    assert "already used by another post" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Post)) == 2


def test_bad_input_keeps_values_and_saves_nothing(editor_client):
    response = _new_post(editor_client, title="", slug="Not A Slug!", body="kept body")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Enter a title" in html and "lower-case letters" in html and "kept body" in html
    assert db.session.scalar(select(func.count()).select_from(Post)) == 0


def test_preview_shows_sanitised_html_without_saving(editor_client):
    response = _new_post(editor_client, body=NASTY, action="preview")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Preview (not saved)" in html and "<strong>world</strong>" in html
    assert "<script>alert(1)" not in html and 'onerror="alert' not in html
    assert db.session.scalar(select(func.count()).select_from(Post)) == 0


def test_publish_unpublish_and_schedule(editor_client, app):
    _new_post(editor_client)
    post = _post()
    assert _as_visitor(app, f"/news/{post.slug}").status_code == 404
    editor_client.post(f"/staff/news/{post.id}/publish")
    db.session.expire_all()
    assert _post().status == "published" and _post().published_at is not None
    assert "Body <strong>text</strong>" in _as_visitor(app, f"/news/{post.slug}").get_data(as_text=True)
    editor_client.post(f"/staff/news/{post.id}/unpublish")
    db.session.expire_all()
    assert _post().status == "draft" and _post().published_at is None
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    response = editor_client.post(f"/staff/news/{post.id}/schedule",
                                  data={"publish_date": tomorrow.date().isoformat(), "publish_time": "08:30"})  # fmt: skip
    assert response.status_code == 302
    db.session.expire_all()
    assert _post().status == "scheduled"
    london = datetime.combine(tomorrow.date(), datetime.min.time(), tzinfo=ZoneInfo("Europe/London"))
    assert _post().publish_at == (london + timedelta(hours=8, minutes=30)).astimezone(UTC)  # typed as UK time
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"news.create", "news.publish", "news.unpublish", "news.schedule"} <= actions


def test_schedule_in_the_past_is_refused(editor_client):
    _new_post(editor_client)
    post = _post()
    response = editor_client.post(
        f"/staff/news/{post.id}/schedule", data={"publish_date": "2001-01-01", "publish_time": "9:00"}
    )
    assert response.status_code == 400
    assert "in the future" in response.get_data(as_text=True)
    db.session.expire_all()
    assert _post().status == "draft"


def test_publish_due_posts_publishes_only_due_ones(app):
    now = datetime.now(UTC)
    for slug, when in (("due", now - timedelta(minutes=5)), ("later", now + timedelta(days=2))):
        db.session.add(Post(slug=slug, title=slug, status="scheduled", publish_at=when, body_html="x"))
    db.session.add(Post(slug="draft", title="d", status="draft"))
    db.session.commit()
    assert publish_due_posts(now) == 1
    db.session.commit()
    assert _post("due").status == "published" and _post("due").published_at is not None
    assert _post("later").status == "scheduled" and _post("draft").status == "draft"
    assert publish_due_posts(now) == 0


def test_a_published_post_is_emailed_by_starting_a_campaign_from_it(editor_client):
    """One path for marketing mail: the campaign (audience, count, test, confirmation), no one-click send."""
    make_contact("yes@example.org", email_consent=True)
    _new_post(editor_client)
    post = _post()
    editor_client.post(f"/staff/news/{post.id}/publish")
    page = editor_client.get(f"/staff/news/{post.id}/edit").get_data(as_text=True)
    assert f'href="/staff/campaigns/new?post_id={post.id}">Start a campaign from this post</a>' in page
    assert "Email this post" not in page
    assert editor_client.post(f"/staff/news/{post.id}/email").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    compose = editor_client.get(f"/staff/campaigns/new?post_id={post.id}").get_data(as_text=True)
    assert 'value="Trade unionists freed"' in compose and "Body **text**." in compose


def test_a_draft_post_offers_no_campaign(editor_client):
    _new_post(editor_client)
    page = editor_client.get(f"/staff/news/{_post().id}/edit").get_data(as_text=True)
    assert "Start a campaign from this post" not in page


def test_editor_cannot_open_other_staff_pages(client, app):
    sign_in_as(client, make_user("ed@example.org", "editor"))
    assert client.get("/staff/pages").status_code == 403
    assert client.get("/staff/news").status_code == 200
