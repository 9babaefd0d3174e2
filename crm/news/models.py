"""News posts and the organisation's public pages, written in sanitised Markdown."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.types import UTCDateTime, utcnow
from crm.extensions import Model


class PostStatus(StrEnum):
    DRAFT = "draft"
    #: To be published at `publish_at` by the publishing job.
    SCHEDULED = "scheduled"
    PUBLISHED = "published"


class Post(Model):
    __tablename__ = "news_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    #: Rendered and sanitised when saved, never at read time.
    body_html: Mapped[str] = mapped_column(Text, default="")
    #: public or members
    visibility: Mapped[str] = mapped_column(String(20), default="public")
    status: Mapped[str] = mapped_column(String(20), default=PostStatus.DRAFT)
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The language of title, summary and body ('en' or 'es'); the translated_* fields hold the
    #: same post in the other language, empty when there is none (crm.news.languages).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    translated_title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    translated_summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    translated_body_markdown: Mapped[str] = mapped_column(Text, default="", server_default="")
    translated_body_html: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


Index("ix_news_post_status_published", Post.status, Post.published_at)


class Page(Model):
    """A public page (about us, why join, privacy notice, Gift Aid statement)."""

    __tablename__ = "site_page"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    show_in_nav: Mapped[bool] = mapped_column(default=True)
    nav_order: Mapped[int] = mapped_column(default=0)
    #: As on Post: the language of title and body, and the page in the other language.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    translated_title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    translated_body_markdown: Mapped[str] = mapped_column(Text, default="", server_default="")
    translated_body_html: Mapped[str] = mapped_column(Text, default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
