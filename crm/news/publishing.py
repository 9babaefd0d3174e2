"""Writing and publishing news: save, publish now or later, and unpublish. Emailing a post is a campaign
(crm.campaigns: "start a campaign from this post"), the one path for marketing mail.

Services flush; the staff route or the daily job commits.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from crm.audit.services import record
from crm.core.database import affected_rows
from crm.core.markup import render_markdown
from crm.core.types import utcnow
from crm.extensions import db
from crm.news.models import Post, PostStatus

log = logging.getLogger("crm.news")

VISIBILITIES = ("public", "members")
_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int = 80) -> str:
    """'Café news: 2026!' -> 'cafe-news-2026' (ASCII letters, digits and hyphens only)."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_STRIP.sub("-", ascii_text.lower()).strip("-")
    return slug[:max_length].strip("-") or "post"


def slug_taken(slug: str, exclude_id: int | None = None) -> bool:
    query = select(Post.id).where(Post.slug == slug)
    if exclude_id is not None:
        query = query.where(Post.id != exclude_id)
    return db.session.scalar(query) is not None


def unique_slug(base: str, exclude_id: int | None = None) -> str:
    """`base`, or `base-2`, `base-3`... whichever is free."""
    slug, n = base, 1
    while slug_taken(slug, exclude_id):
        n += 1
        slug = f"{base[:190]}-{n}"
    return slug


def _snapshot(post: Post) -> dict[str, Any]:
    return {
        "title": post.title,
        "slug": post.slug,
        "summary": post.summary,
        "visibility": post.visibility,
        "status": post.status,
        "publish_at": post.publish_at.isoformat() if post.publish_at else None,
        "body_markdown": post.body_markdown,
        "language": post.language,
        "translated_title": post.translated_title,
        "translated_summary": post.translated_summary,
        "translated_body_markdown": post.translated_body_markdown,
    }


def save_post(
    post: Post | None,
    *,
    title: str,
    slug: str,
    summary: str,
    body_markdown: str,
    visibility: str,
    author: Any = None,
) -> Post:
    """Create or update a post; the body is rendered and sanitised now, never at read time."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"unknown visibility {visibility!r}")
    creating = post is None
    before = None if post is None else _snapshot(post)
    slug = slug.strip() or unique_slug(slugify(title), post.id if post else None)
    if post is None:
        post = Post(author_id=getattr(author, "id", None), status=PostStatus.DRAFT)
        db.session.add(post)
    post.title = title.strip()
    post.slug = slug
    post.summary = summary.strip()
    post.body_markdown = body_markdown
    post.body_html = render_markdown(body_markdown)
    post.visibility = visibility
    db.session.flush()
    record(
        "news.create" if creating else "news.update",
        target_type="news_post",
        target_id=post.id,
        before=before,
        after=_snapshot(post),
        actor=author,
    )
    return post


def publish_post(post: Post, *, now: datetime | None = None, actor: Any = None) -> None:
    before = _snapshot(post)
    post.status = PostStatus.PUBLISHED
    post.published_at = now or utcnow()
    post.publish_at = None
    db.session.flush()
    record(
        "news.publish",
        target_type="news_post",
        target_id=post.id,
        before=before,
        after=_snapshot(post),
        actor=actor,
    )


def schedule_post(post: Post, when: datetime, *, actor: Any = None) -> None:
    """Publish at `when` (UTC); the daily job calls `publish_due_posts`."""
    if when.tzinfo is None:
        raise ValueError("schedule times are timezone-aware UTC")
    before = _snapshot(post)
    post.status = PostStatus.SCHEDULED
    post.publish_at = when
    post.published_at = None
    db.session.flush()
    record(
        "news.schedule",
        target_type="news_post",
        target_id=post.id,
        before=before,
        after=_snapshot(post),
        actor=actor,
    )


def unpublish_post(post: Post, *, actor: Any = None) -> None:
    """Back to draft: no longer listed or readable (a scheduled post is unscheduled too)."""
    before = _snapshot(post)
    post.status = PostStatus.DRAFT
    post.publish_at = None
    post.published_at = None
    db.session.flush()
    record(
        "news.unpublish",
        target_type="news_post",
        target_id=post.id,
        before=before,
        after=_snapshot(post),
        actor=actor,
    )


def publish_due_posts(now: datetime | None = None) -> int:
    """Publish every scheduled post whose time has come, in one UPDATE. Returns how many."""
    now = now or utcnow()
    due = (Post.status == PostStatus.SCHEDULED) & (Post.publish_at <= now)
    ids = list(db.session.scalars(select(Post.id).where(due)))
    if not ids:
        return 0
    result = db.session.execute(
        update(Post)
        .where(Post.id.in_(ids), due)
        .values(status=PostStatus.PUBLISHED, published_at=Post.publish_at, publish_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    count = affected_rows(result)
    record(
        "news.publish_due",
        target_type="news_post",
        target_id=",".join(str(i) for i in ids)[:64],
        after={"published": count, "ids": ids},
        actor_label="system",
    )
    db.session.flush()
    db.session.expire_all()
    # A bulk UPDATE passes the ORM's events by: drop this process's cached news list and page here.
    from crm.news.services import news_list_cache, news_page_cache

    news_list_cache.changed_in(db.session())
    news_page_cache.changed_in(db.session())
    return count
