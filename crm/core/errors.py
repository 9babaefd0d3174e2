"""Friendly error pages (JSON for JSON requests); a 500 rolls the session back and leaks nothing."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from crm.core.schema_check import SCHEMA_OUT_OF_DATE, schema_is_current
from crm.extensions import db, login_manager

log = logging.getLogger("crm.errors")

MESSAGES = {
    400: (_l("Something was wrong with that request"), _l("Please go back, reload the page and try again.")),
    403: (_l("You do not have access to this page"), _l("If you think you should, please contact us.")),
    404: (_l("Page not found"), _l("The page may have moved, or the address may be mistyped.")),
    405: (_l("That action is not allowed here"), _l("Please use the links and buttons on the site.")),
    413: (_l("That upload is too large"), _l("Please send a smaller file.")),
    429: (_l("Too many attempts"), _l("Please wait a few minutes before trying again.")),
    500: (_l("Sorry, something went wrong"), _l("The problem has been logged. Please try again shortly.")),
    503: (_l("The service is briefly unavailable"), _l("Please try again in a minute.")),
}


def wants_json() -> bool:
    if request.is_json or request.path.startswith(("/stripe/", "/healthz", "/api/")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def render_error(code: int, description: str | None = None, *, database_down: bool = False):
    title, hint = MESSAGES.get(code, MESSAGES[500])
    if wants_json():
        return jsonify({"error": str(title), "status": code}), code
    context = {"code": code, "title": title, "hint": description or hint}
    if not database_down:
        try:
            return render_template("errors/error.html", **context), code
        except SQLAlchemyError:
            db.session.rollback()  # the layout's own reads failed: the database went away meanwhile
    # The layout reads the database (the menu pages, the signed-in user, whose rows the rollback
    # expired): without it, the page shows neither, rather than fail again into a bare 500.
    g._login_user = login_manager.anonymous_user()
    return render_template("errors/error.html", nav_pages=tuple, **context), code


def _missing_schema(error: Exception) -> bool:
    """A table or column the code expects is not there (an unmigrated database), not an outage."""
    if isinstance(error, ProgrammingError) or "no such table" in str(error) or "no such column" in str(error):
        try:
            return not schema_is_current()
        except SQLAlchemyError:
            return False
    return False


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):
        code = error.code or 500
        if code >= 500:
            db.session.rollback()
        hint = None
        if code == 400 and getattr(error, "description", "").startswith("The CSRF"):
            hint = "Your form expired or was sent from elsewhere. Please reload the page and try again."
        response = render_error(code if code in MESSAGES else 500, hint)
        if code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            return response[0], code, {"Allow": ", ".join(error.valid_methods)}
        if code == 429:
            return response[0], code, {"Retry-After": "60"}
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeoutError)  # every pooled connection busy (a frozen database)
    def handle_database_down(error: Exception):
        db.session.rollback()
        sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)  # 57014: a statement timed out
        log.error("database error on %s %s: %s%s", request.method, request.path, type(error).__name__,
                  f" (SQLSTATE {sqlstate})" if sqlstate else "")  # fmt: skip
        if _missing_schema(error):
            return render_error(
                503, f"{SCHEMA_OUT_OF_DATE[0].upper()}{SCHEMA_OUT_OF_DATE[1:]}.", database_down=True
            )
        return render_error(503, database_down=True)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)

    @app.errorhandler(InternalServerError)
    def handle_500(error: InternalServerError):
        db.session.rollback()
        return render_error(500)
