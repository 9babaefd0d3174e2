"""Who may do what. Every staff endpoint declares a permission; a test fails if one does not."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., Any])

#: Roles that must pass the second factor (TOTP or a recovery code) before any staff page.
STAFF_ROLES = ("editor", "staff", "admin")

#: role -> permissions. Deny by default: a permission not listed here is refused.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "member": frozenset(),
    "editor": frozenset({"news", "campaigns"}),
    "staff": frozenset(
        {
            "news",
            "dashboard",
            "members.view",
            "members.edit",
            "payments",
            "import",
            "export",
            "gift_aid",
            "outbox",
            "audit",
            "pages",
            "events",
            "audiences",
            "campaigns",
            "campaigns.send",
        }
    ),
    "admin": frozenset(
        {
            "news",
            "dashboard",
            "members.view",
            "members.edit",
            "payments",
            "import",
            "export",
            "gift_aid",
            "outbox",
            "audit",
            "pages",
            "plans",
            "refunds",
            "users",
            "events",
            "audiences",
            "campaigns",
            "campaigns.send",
        }
    ),
}


#: Where the accounts domain registers how a session is ended (core knows no domain).
_END_SESSION = "crm.permissions.end_session"


def register_session_ender(app: Flask, end_session: Callable[[], None]) -> None:
    """How `requires` signs out a staff session that lacks its second factor (crm.accounts owns sessions)."""
    app.extensions[_END_SESSION] = end_session


def has_permission(user: Any, permission: str) -> bool:
    return bool(user and user.is_authenticated and permission in ROLE_PERMISSIONS.get(user.role, ()))


def requires(permission: str) -> Callable[[F], F]:
    """Anonymous -> sign in (401 handled by Flask-Login); signed in without it -> 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            from crm.extensions import login_manager

            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role in STAFF_ROLES and not session.get("mfa_ok"):
                # A staff session without its second factor (e.g. a member just promoted):
                # sign in again, through the TOTP step, before any staff page opens.
                from crm.extensions import db

                current_app.extensions[_END_SESSION]()
                db.session.commit()
                flash("Please sign in again with your security code.", "info")
                return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
            if not has_permission(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]  # a marker the route map tests read
        return wrapped  # type: ignore[return-value]  # wraps() keeps the view's signature

    return decorator
