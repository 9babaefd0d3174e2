"""News rules: what is published, who may read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import select

from crm.core.types import utcnow
from crm.extensions import db
from crm.news.models import Post

PER_PAGE = 10
FEED_SIZE = 20


def published_filter():  # type: ignore[no-untyped-def]
    return (Post.status == "published") & (Post.published_at <= utcnow())


def latest_posts(limit: int = 10, include_members_only: bool = False) -> list[Post]:
    query = select(Post).where(published_filter())
    if not include_members_only:
        query = query.where(Post.visibility == "public")
    return list(db.session.scalars(query.order_by(Post.published_at.desc()).limit(limit)))


@dataclass(frozen=True)
class Reader:
    """Who is reading, as far as news is concerned (worked out once per request)."""

    signed_in: bool = False
    #: editor, staff or admin: reads everything, including drafts (to preview them).
    is_staff: bool = False
    #: A membership in `active` or `grace`.
    has_access: bool = False
    #: The status of their latest membership when it gives no access (lapsed, pending...), or None.
    membership_status: str | None = None

    @property
    def reads_members_only(self) -> bool:
        return self.is_staff or self.has_access


def reader_for(user: Any) -> Reader:
    """The reader for `user` (Flask-Login's current_user, possibly anonymous)."""
    if user is None or not user.is_authenticated:
        return Reader()
    if getattr(user, "is_editor", False):
        return Reader(signed_in=True, is_staff=True, has_access=True)
    from crm.members_area.access import membership_state

    access, status = membership_state(user.contact_id)
    return Reader(signed_in=True, has_access=access, membership_status=status)


def news_page(page: int, per_page: int = PER_PAGE) -> Pagination:
    """Published posts, newest first, public and members-only alike (members-only ones are shown
    as teasers to readers without access); a fixed number of queries whatever the page size."""
    query = select(Post).where(published_filter()).order_by(Post.published_at.desc(), Post.id.desc())
    return db.paginate(query, page=page, per_page=per_page, max_per_page=50, error_out=False)


def find_post(slug: str, reader: Reader) -> Post | None:
    """The post at `slug`, or None when it does not exist or is not published yet (staff excepted)."""
    post = db.session.scalar(select(Post).where(Post.slug == slug))
    if post is None:
        return None
    if reader.is_staff:
        return post
    now = utcnow()
    if post.status != "published" or post.published_at is None or post.published_at > now:
        return None
    return post


def can_read(post: Post, reader: Reader) -> bool:
    return post.visibility == "public" or reader.reads_members_only


def feed_posts(limit: int = FEED_SIZE) -> list[Post]:
    """The public posts for the Atom feed (members-only posts never appear there)."""
    return latest_posts(limit=limit, include_members_only=False)


def entry_updated(post: Post) -> datetime:
    """When a feed entry last changed: its last edit, never earlier than its publication."""
    published = post.published_at or post.created_at
    return max(published, post.updated_at) if post.updated_at else published


def atom_time(moment: datetime) -> str:
    """RFC 3339 in UTC, as Atom requires."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
