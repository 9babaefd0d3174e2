"""News rules: what is published, who may read it."""

from __future__ import annotations

from sqlalchemy import select

from crm.core.types import utcnow
from crm.extensions import db
from crm.news.models import Post


def published_filter():  # type: ignore[no-untyped-def]
    return (Post.status == "published") & (Post.published_at <= utcnow())


def latest_posts(limit: int = 10, include_members_only: bool = False) -> list[Post]:
    query = select(Post).where(published_filter())
    if not include_members_only:
        query = query.where(Post.visibility == "public")
    return list(db.session.scalars(query.order_by(Post.published_at.desc()).limit(limit)))
