"""Jinja filters and globals shared by every page (autoescaping stays on everywhere)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any

from flask import Flask, current_app, g, render_template, request, session, url_for
from flask_wtf.csrf import generate_csrf
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup

from crm.core.cache import ProcessCache
from crm.core.features import gift_aid_enabled

#: Where `init_app` keeps the hooks other parts register (core knows no domain: they call it).
_PAGE_LANGUAGE = "crm.templating.page_language"
_FORMATTERS = "crm.templating.formatters"


def vary_shared_pages_by_language(app: Flask, page_language: Callable[[], str]) -> None:
    """Register the page's language (crm.i18n does), so a shared page is rendered once per language."""
    app.extensions[_PAGE_LANGUAGE] = page_language


def register_formatters(app: Flask, **formatters: Callable[..., str]) -> None:
    """Register the date and time formatters (crm.i18n does) behind `format_date` / `format_datetime`."""
    app.extensions.setdefault(_FORMATTERS, {}).update(formatters)


def format_date(value: Any, *args: Any, **kwargs: Any) -> str:
    """The registered `format_date` (crm.i18n.formatting's). New code imports that one directly."""
    return current_app.extensions[_FORMATTERS]["format_date"](value, *args, **kwargs)


def format_datetime(value: Any, *args: Any, **kwargs: Any) -> str:
    """The registered `format_datetime` (crm.i18n.formatting's). New code imports that one directly."""
    return current_app.extensions[_FORMATTERS]["format_datetime"](value, *args, **kwargs)


def _page_language() -> str:
    page_language = current_app.extensions.get(_PAGE_LANGUAGE)
    return page_language() if page_language else ""


def render_fragment(template_name: str, **context: Any) -> Markup:
    """A part of a page rendered on its own (to be cached and placed in pages), marked safe.

    The only place the app marks HTML safe other than nh3's output: what it marks is the output of
    one of our templates, rendered with autoescaping on, so every value in it is already escaped
    exactly as it would be in the page itself.
    """
    if not template_name.endswith(".html"):
        raise ValueError("render_fragment renders an HTML template by name")
    return Markup(render_template(template_name, **context))  # noqa: S704  # nosec B704  (autoescaped template output)


def fixed_url(endpoint: str, **values: str) -> str:
    """`url_for` for a URL that depends only on the route map (static files, the feed, a page by
    slug): built once per process, not on every page view."""
    return _fixed_url(request.script_root, endpoint, tuple(sorted(values.items())))


@lru_cache(maxsize=1024)
def _fixed_url(_script_root: str, endpoint: str, values: tuple[tuple[str, str], ...]) -> str:
    arguments: dict[str, Any] = dict(values)
    return url_for(endpoint, **arguments)


def csrf_token() -> str:
    """Flask-WTF's CSRF token for this session, signed once per process rather than on every page.

    The signed token is the session's secret and a signature over it; with no time limit set
    (WTF_CSRF_TIME_LIMIT = None, the token lives as long as the session), a token signed earlier
    is exactly as valid, so the first one is kept. Forms still call Flask-WTF directly.
    """
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    raw = session.get(field)
    if field not in g and isinstance(raw, str) and current_app.config.get("WTF_CSRF_TIME_LIMIT") is None:
        secret = current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
        setattr(g, field, _signed_csrf_token(str(secret), raw))
    return generate_csrf()


@lru_cache(maxsize=4096)
def _signed_csrf_token(secret: str, raw: str) -> str:
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)  # Flask-WTF's salt


#: Stands for the CSRF token in a page rendered to be shared (random per process, so no content
#: can contain it by design).
_TOKEN_MARK = f"csrf-{secrets.token_hex(16)}"


def menu_for(user: Any) -> str:
    """Which menu base.html shows this user: the one part of a shared page that depends on who is
    reading (keep in step with the menu in base.html)."""
    if not user.is_authenticated:
        return "visitor"
    if user.role == "editor":
        return "editor"
    return "staff" if user.is_editor else "member"


def render_shared(cache: ProcessCache, key: Hashable, template_name: str, **context: Any) -> str:
    """A page that is the same for everyone with the same menu (`key` must hold `menu_for` the
    reader and whatever else the page depends on) but for the CSRF token of its forms: rendered
    once with a mark in the token's place, kept in `cache`, and given this session's token.

    A page with messages waiting to be flashed is rendered for this reader alone (the messages
    are theirs).
    """
    if session.get("_flashes"):
        return render_template(template_name, **context)
    key = (key, _page_language())  # every shared page is rendered once per language
    html: str = cache.get(
        key, lambda: render_template(template_name, csrf_token=lambda: _TOKEN_MARK, **context)
    )
    return html.replace(_TOKEN_MARK, csrf_token())


def init_app(app: Flask) -> None:
    """Filters and globals every page uses; the domains add theirs (crm.i18n the language and its
    filters, crm.news the menu's `nav_pages`) from their own init code."""
    app.jinja_env.globals["fixed_url"] = fixed_url
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def inject_org() -> dict[str, object]:
        return {
            "org_name": current_app.config["ORG_NAME"],
            "org_address": current_app.config["ORG_ADDRESS"],
            "csrf_token": csrf_token,  # in place of the one Flask-WTF's context processor adds
            "gift_aid_enabled": gift_aid_enabled(),
        }
