"""Jinja filters and globals shared by every page (autoescaping stays on everywhere)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, current_app, render_template
from markupsafe import Markup

from crm.core.money import format_money

MONTHS = "January February March April May June July August September October November December"


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return f"{value.day} {MONTHS.split()[value.month - 1]} {value.year}"


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{format_date(value)}, {value:%H:%M} UTC"


def render_fragment(template_name: str, **context: Any) -> Markup:
    """A part of a page rendered on its own (to be cached and placed in pages), marked safe.

    The only place the app marks HTML safe other than nh3's output: what it marks is the output of
    one of our templates, rendered with autoescaping on, so every value in it is already escaped
    exactly as it would be in the page itself.
    """
    if not template_name.endswith(".html"):
        raise ValueError("render_fragment renders an HTML template by name")
    return Markup(render_template(template_name, **context))  # noqa: S704  # nosec B704  (autoescaped template output)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def inject_org() -> dict[str, object]:
        from crm.news.pages import nav_pages

        return {
            "org_name": current_app.config["ORG_NAME"],
            "org_address": current_app.config["ORG_ADDRESS"],
            "nav_pages": nav_pages,
        }
