"""Jinja filters and globals shared by every page (autoescaping stays on everywhere)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask, current_app

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
