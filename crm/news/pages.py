"""The public pages shown in the site navigation.

Every page of the site shows the navigation, so the links are kept per process for a few seconds
(`NAV_CACHE_SECONDS`, default 30) instead of being read on every request. Saving, adding or
deleting a page through the ORM drops the cache of this process at once; other processes (the
other gunicorn workers) pick the change up when their copy expires.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from crm.extensions import db
from crm.news.models import Page

DEFAULT_TTL_SECONDS = 30.0
_CACHE_KEY = "crm_nav_pages"


class NavLink(NamedTuple):
    """One navigation entry (plain values: safe to share between requests and threads)."""

    slug: str
    title: str


class _Generation:
    """Bumped whenever a page changes, so every cached copy read before the change is stale."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def bump(self) -> None:
        with self._lock:
            self.value += 1


_generation = _Generation()


def nav_pages() -> tuple[NavLink, ...]:
    """Pages in the navigation, in menu order (from this process's short-lived cache)."""
    cache: dict[str, Any] = current_app.extensions.setdefault(_CACHE_KEY, {})
    now = time.monotonic()
    entry = cache.get("entry")
    if entry is not None and entry[0] == _generation.value and entry[1] > now:
        return entry[2]  # type: ignore[no-any-return]
    generation = _generation.value
    rows = db.session.execute(
        select(Page.slug, Page.title).where(Page.show_in_nav.is_(True)).order_by(Page.nav_order, Page.id)
    ).all()
    links = tuple(NavLink(slug, title) for slug, title in rows)
    ttl = float(current_app.config.get("NAV_CACHE_SECONDS", DEFAULT_TTL_SECONDS))
    cache["entry"] = (generation, now + ttl, links)
    return links


def forget_nav_pages() -> None:
    """Drop every cached copy of the navigation in this process (after a page is saved)."""
    _generation.bump()


@event.listens_for(Page, "after_insert")
@event.listens_for(Page, "after_update")
@event.listens_for(Page, "after_delete")
def _page_changed(_mapper: Any, connection: Any, _target: Page) -> None:
    forget_nav_pages()
    # A request reading between this flush and the commit would cache the old links again:
    # forget them once more when the transaction commits.
    session = Session.object_session(_target)
    if session is not None:
        session.info["crm_nav_changed"] = True


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    if session.info.pop("crm_nav_changed", False):
        forget_nav_pages()
