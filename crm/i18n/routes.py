"""The language switch: a plain link on every page (no JavaScript), remembered in a cookie."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, request
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from crm.contacts.services import set_preferred_language
from crm.core.languages import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE, normalise_language
from crm.extensions import db
from crm.i18n import forget_signed_in_preference

bp = Blueprint("i18n", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never another host, nor '//host')."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return "/"
    return target


@bp.get("/language/<code>")
def switch_language(code: str):
    language = normalise_language(code)
    if language is None or language != code:
        abort(404)
    return _remembered(language, redirect(_safe_next(request.args.get("next")), code=303))


@bp.post("/language")
@login_required
def choose_language():
    """A signed-in contact's choice: the site's language and that of every email to them."""
    language = normalise_language(request.form.get("language"))
    if language is None:
        abort(400)
    set_preferred_language(current_user.contact, language)
    db.session.commit()
    forget_signed_in_preference()
    return _remembered(language, redirect(_safe_next(request.form.get("next")), code=303))


def _remembered(language: str, response: BaseResponse) -> BaseResponse:
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )
    return response
