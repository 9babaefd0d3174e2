"""The public pages shown in the site navigation."""

from __future__ import annotations

from flask import g
from sqlalchemy import select

from crm.extensions import db
from crm.news.models import Page


def nav_pages() -> list[Page]:
    """Pages in the navigation, read once per request."""
    if "nav_pages" not in g:
        g.nav_pages = db.session.scalars(
            select(Page).where(Page.show_in_nav.is_(True)).order_by(Page.nav_order, Page.id)
        ).all()
    return g.nav_pages
