"""News rules: what is published, who may read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, bindparam, select

from crm.core.cache import ProcessCache, clear_on_change
from crm.core.types import utcnow
from crm.extensions import db
from crm.members_area.access import membership_state
from crm.news.models import Page, Post, PostStatus

PER_PAGE = 10
FEED_SIZE = 20

#: The rendered news list, per page and teaser kind (`NEWS_CACHE_SECONDS`, default 10): the list
#: is the busiest page of the site and the same for every reader of a kind. Saving a post in this
#: process drops it at once; other processes see the change when their copy expires, as they see
#: a scheduled post's time come.
news_list_cache = ProcessCache("news_list", "NEWS_CACHE_SECONDS", 10.0)
clear_on_change(news_list_cache, Post)
#: The whole /news page per page, teaser and menu (crm.core.templating.render_shared); it shows
#: the menu's pages too.
news_page_cache = ProcessCache("news_page", "NEWS_CACHE_SECONDS", 10.0)
clear_on_change(news_page_cache, Post, Page)


def published_filter():
    return (Post.status == PostStatus.PUBLISHED) & (Post.published_at <= utcnow())


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

    @property
    def teaser(self) -> str:
        """What a members-only post in a list offers this reader: full (they may read it), renew
        (a past or pending member), join (signed in, never a member) or signin (anonymous)."""
        if self.reads_members_only:
            return "full"
        if self.signed_in:
            return "renew" if self.membership_status else "join"
        return "signin"


def reader_for(user: Any) -> Reader:
    """The reader for `user` (Flask-Login's current_user, possibly anonymous)."""
    if user is None or not user.is_authenticated:
        return Reader()
    if getattr(user, "is_editor", False):
        return Reader(signed_in=True, is_staff=True, has_access=True)
    access, status = membership_state(user.contact_id, getattr(user, "latest_membership_status", None))
    return Reader(signed_in=True, has_access=access, membership_status=status)


@dataclass(frozen=True)
class NewsPage:
    """One page of the news list: the posts (only the columns the list shows) and its neighbours.

    There is no total count: one extra row tells whether an older page exists, so the list costs
    one query whatever the number of posts.
    """

    items: list[Row[Any]]
    page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def news_page(page: int, per_page: int = PER_PAGE) -> NewsPage:
    """Published posts, newest first, public and members-only alike (members-only ones are shown
    as teasers to readers without access); one query whatever the page or the number of posts."""
    page, per_page = max(page, 1), min(max(per_page, 1), 50)
    params = {"now": utcnow(), "limit": per_page + 1, "offset": (page - 1) * per_page}
    rows = list(db.session.execute(_news_list(), params).all())
    return NewsPage(items=rows[:per_page], page=page, has_next=len(rows) > per_page)


@cache
def _news_list() -> Select[*tuple[Any, ...]]:
    """Built once (the list is the busiest page): the columns the list shows, one row extra."""
    return (
        select(
            Post.id,
            Post.slug,
            Post.title,
            Post.summary,
            Post.visibility,
            Post.published_at,
            Post.language,
            Post.translated_title,
            Post.translated_summary,
        )
        .where(Post.status == PostStatus.PUBLISHED, Post.published_at <= bindparam("now"))
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


def find_post(slug: str, reader: Reader) -> Post | None:
    """The post at `slug`, or None when it does not exist or is not published yet (staff excepted)."""
    post = db.session.scalar(select(Post).where(Post.slug == slug))
    if post is None:
        return None
    if reader.is_staff:
        return post
    now = utcnow()
    if post.status != PostStatus.PUBLISHED or post.published_at is None or post.published_at > now:
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
