"""The language switch: a plain link on every page (no JavaScript), remembered in a cookie."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, request

from crm.i18n.languages import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE, normalise_language

bp = Blueprint("i18n", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never another host, nor '//host')."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@bp.get("/language/<code>")
def switch_language(code: str):  # type: ignore[no-untyped-def]
    language = normalise_language(code)
    if language is None or language != code:
        abort(404)
    response = redirect(_safe_next(request.args.get("next")), code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )
    return response
