"""Loading the signed-in user: the session carries "<id>:<session_version>"."""

from __future__ import annotations

from flask import Flask

from crm.extensions import db, login_manager


def load_user(user_id: str):  # type: ignore[no-untyped-def]
    from crm.accounts.models import User

    try:
        raw_id, raw_version = user_id.split(":", 1)
        user = db.session.get(User, int(raw_id))
        version = int(raw_version)
    except (ValueError, TypeError):
        return None
    if user is None or user.disabled or user.session_version != version:
        return None
    return user


def init_app(app: Flask) -> None:
    login_manager.user_loader(load_user)
