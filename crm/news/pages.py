"""The public pages shown in the site navigation.

Every page of the site shows the navigation, so the links are kept per process for a few seconds
(`NAV_CACHE_SECONDS`, default 30) instead of being read on every request. Saving, adding or
deleting a page through the ORM drops the cache of this process at once; other processes (the
other gunicorn workers) pick the change up when their copy expires.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select

from crm.core.cache import ProcessCache, clear_on_change
from crm.extensions import db
from crm.news.models import Page


class NavLink(NamedTuple):
    """One navigation entry (plain values: safe to share between requests and threads)."""

    slug: str
    title: str
    language: str = "en"
    translated_title: str = ""


nav_cache = ProcessCache("nav_pages", "NAV_CACHE_SECONDS", 30.0)
clear_on_change(nav_cache, Page)


def nav_pages() -> tuple[NavLink, ...]:
    """Pages in the navigation, in menu order (from this process's short-lived cache)."""
    return nav_cache.get("links", _read_nav_pages)


def _read_nav_pages() -> tuple[NavLink, ...]:
    rows = db.session.execute(
        select(Page.slug, Page.title, Page.language, Page.translated_title)
        .where(Page.show_in_nav.is_(True))
        .order_by(Page.nav_order, Page.id)
    ).all()
    return tuple(NavLink(*row) for row in rows)
