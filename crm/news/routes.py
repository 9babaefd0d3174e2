"""News for members and the public: the list, one post, and the Atom feed of public posts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user

from crm.core.languages import normalise_language
from crm.core.templating import menu_for, render_fragment, render_shared
from crm.core.types import utcnow
from crm.extensions import login_manager
from crm.i18n import current_language
from crm.jobs.due import register_due_step
from crm.memberships.daily import register_daily_step
from crm.news import services
from crm.news.pages import nav_pages
from crm.news.publishing import publish_due_posts

bp = Blueprint("news", __name__)
# Scheduled posts are published by the daily run (crm daily).
bp.record_once(lambda state: register_daily_step(state.app, "posts_published", publish_due_posts, order=30))
bp.record_once(lambda state: register_due_step(state.app, "posts_published", publish_due_posts, order=10))


@bp.app_context_processor
def inject_nav_pages() -> dict[str, object]:
    """The pages in the site menu (base.html), on every page of the app."""
    return {"nav_pages": nav_pages}


@bp.get("/news")
def index():
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    reader = services.reader_for(current_user)
    language = current_language()
    found, news_list = services.news_list_cache.get(
        (page, reader.teaser, language), lambda: _news_list(page, reader.teaser)
    )
    if page > 1 and not found:
        abort(404)
    key = (page, reader.teaser, menu_for(current_user))
    return render_shared(services.news_page_cache, key, "news/index.html", news_list=news_list)


def _news_list(page: int, teaser: str) -> tuple[bool, Any]:
    """(whether the page has posts, the rendered list): kept a few seconds per page and teaser."""
    pagination = services.news_page(page)
    return bool(pagination.items), render_fragment("news/_list.html", pagination=pagination, teaser=teaser)


@bp.get("/news/feed.xml")
def feed():
    posts = services.feed_posts()
    updated = max((services.entry_updated(p) for p in posts), default=utcnow())
    xml = render_template(
        "news/feed.xml",
        posts=posts,
        base_url=current_app.config["BASE_URL"],
        feed_updated=services.atom_time(updated),
        iso=services.atom_time,
        entry_updated=services.entry_updated,
        language=_asked_language(),
    )
    response = Response(xml, mimetype="application/atom+xml")
    response.headers["Content-Type"] = "application/atom+xml; charset=utf-8"
    return response


@bp.get("/news/<slug>")
def post(slug: str):
    reader = services.reader_for(current_user)
    found = services.find_post(slug, reader)
    if found is None:
        abort(404)
    if not services.can_read(found, reader) and not reader.signed_in:
        return login_manager.unauthorized()
    return render_template(
        "news/post.html",
        post=found,
        reader=reader,
        readable=services.can_read(found, reader),
        language=_asked_language(),
    )


def _asked_language() -> str:
    """`?lang=es` (the link to a post's other language) or the reader's language."""
    return normalise_language(request.args.get("lang")) or current_language()
