"""Server-checked sessions on top of Flask-Login.

The cookie carries "<id>:<session_version>" (Flask-Login's user id) and `sid`, a random id whose
SHA-256 is a `UserSession` row. The user loader refuses a session whose row is revoked (sign-out,
sign out everywhere, password change or reset), idle for longer than PERMANENT_SESSION_LIFETIME,
or, for staff, older than STAFF_SESSION_ABSOLUTE_HOURS. "Remember me" is our own cookie naming
the same row, so signing out ends both. Staff never get a remember-me cookie.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, g, has_request_context, session
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import InstanceState, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, instance_state, set_committed_value
from sqlalchemy.orm.util import identity_key

from crm.accounts.cookie import CookieSessionInterface
from crm.accounts.models import STAFF_ROLES, User, UserSession
from crm.accounts.tokens import hash_token
from crm.core.database import HotRead
from crm.core.types import utcnow
from crm.extensions import JOIN_REQUEST_SESSION, db, login_manager

REMEMBER_COOKIE = "crm_remember"


def new_session_row(user: User, *, remember: bool = False) -> str:
    """Add a `UserSession` for this user and return its raw id (for the cookie only)."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    remember_until = now + current_app.config["REMEMBER_COOKIE_DURATION"] if remember else None
    db.session.add(
        UserSession(
            user_id=user.id,
            token_hash=hash_token(raw),
            created_at=now,
            last_seen_at=now,
            remember_until=remember_until,
        )
    )
    db.session.flush()
    return raw


def start_session(user: User, *, remember: bool = False, mfa_ok: bool = False) -> None:
    """Sign in with a brand-new session: nothing from before sign-in survives (no fixation)."""
    remember = remember and user.role not in STAFF_ROLES
    session.clear()
    raw = new_session_row(user, remember=remember)
    login_user(user, remember=False, fresh=True)
    now = utcnow().timestamp()
    session.permanent = True  # the idle timeout is PERMANENT_SESSION_LIFETIME
    session["sid"] = raw
    session["login_at"] = now
    session["last_seen"] = now
    session["mfa_ok"] = mfa_ok
    _new_csrf_secret()
    if remember:
        g.remember_cookie = raw
    else:
        g.clear_remember_cookie = True


def current_session_row() -> UserSession | None:
    raw = session.get("sid")
    if not raw or not isinstance(raw, str):
        return None
    return db.session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(raw)))


def end_session() -> None:
    """Sign out this browser for real: its session row is revoked, so a copied cookie is dead."""
    raw = session.get("sid")
    if isinstance(raw, str) and raw:
        db.session.execute(
            update(UserSession)
            .where(UserSession.token_hash == hash_token(raw), UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    logout_user()
    session.clear()
    g.clear_remember_cookie = True


def is_remembered_session() -> bool:
    """True when this session was brought back by "remember me" rather than a fresh sign-in."""
    return bool(session.get("remembered"))


def safe_next_url(target: str | None) -> str | None:
    """A `next` that stays on this site (a path), or None."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if any(ch in target for ch in "\r\n\t\x00"):
        return None
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _expired(user: User) -> bool:
    now = utcnow().timestamp()
    idle = current_app.permanent_session_lifetime.total_seconds()
    login_at = session.get("login_at")
    last_seen = session.get("last_seen") or login_at
    if not isinstance(login_at, (int, float)) or not isinstance(last_seen, (int, float)):
        return True
    if now - last_seen > idle:
        return True
    if user.role in STAFF_ROLES:
        absolute = current_app.config.get("STAFF_SESSION_ABSOLUTE_HOURS", 12) * 3600
        if now - login_at > absolute:
            return True
    return False


#: `last_seen` (the idle clock) is written at most this often, so an active member's session cookie
#: is re-signed about once a minute rather than on every response; the idle timeout is kept to
#: within this many seconds.
LAST_SEEN_RESOLUTION_SECONDS = 60


def load_user(user_id: str) -> User | None:
    """The signed-in user, when their session row is live: one read for the user, the row and
    their membership's status, outside the request's transaction (crm.core.database.read_row)."""
    raw = session.get("sid")
    if not raw or not isinstance(raw, str):
        return None
    try:
        raw_id, raw_version = user_id.split(":", 1)
        ident, version = int(raw_id), int(raw_version)
    except (ValueError, TypeError, AttributeError):
        return None
    row = SESSION_READ.first(user_id=ident, token_hash=hash_token(raw))
    if row is None:
        return None
    user = _in_this_session(row)
    if user.disabled or user.session_version != version:
        return None
    if _expired(user):
        return None
    _touch_last_seen()
    return user


#: What every signed-in request reads of the user; the rest (password hash, second factor...) is
#: loaded, in one query, by the few pages that use it.
SESSION_COLUMNS = ("id", "contact_id", "role", "session_version", "disabled")


def _user_for_session() -> Select[Any]:
    """The user's session columns and their latest membership's status (read by every page that
    depends on it), for a live (not revoked) session row."""
    from crm.members_area.access import latest_status_of

    return (
        select(
            *(getattr(User, name) for name in SESSION_COLUMNS),
            latest_status_of(User.contact_id).label("latest_membership_status"),
        )
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            User.id == bindparam("user_id"),
            UserSession.token_hash == bindparam("token_hash"),
            UserSession.revoked_at.is_(None),
        )
    )


#: Compiled once per database, run on every signed-in request.
SESSION_READ = HotRead(_user_for_session)


def _in_this_session(row: dict[str, Any]) -> User:
    """The User for a row read outside the ORM, as a persistent object of this request's session:
    relationships and the columns not read load on first use, changes are saved, as for a
    queried one.

    A request that has not used the database yet has no ORM session, and many (a cached page
    such as /news) never need one: creating it, and closing it at the end, cost ~10 % of such a
    page. The user then joins the session when the request creates it (crm.extensions.
    RequestSession), or when something of the user's that was not read is first used, which
    creates it (`_SessionCheckedState`). tests/accounts/test_sessions.py shows both.
    """
    if not db.session.registry.has():
        g.pop(JOIN_REQUEST_SESSION, None)
        user = _session_checked_user(row, _SessionCheckedState)
        setattr(g, JOIN_REQUEST_SESSION, lambda orm_session: _join(orm_session, user))
        return user
    orm_session = db.session()
    key = identity_key(User, row["id"])
    known = orm_session.identity_map.get(key)
    if known is not None:
        # As a query would: attributes it already holds stay, unloaded (expired) ones are filled.
        loaded = instance_dict(known)
        for name, value in row.items():
            if name not in loaded or name == "latest_membership_status":
                set_committed_value(known, name, value)
        return known  # type: ignore[no-any-return]
    user = _session_checked_user(row, InstanceState)
    _join(orm_session, user)
    return user


def _session_checked_user(row: dict[str, Any], state_class: type[InstanceState[Any]]) -> User:
    """A detached User holding `row`; the columns not read are marked expired (load on use)."""
    manager = User.__mapper__.class_manager
    user: User = User.__new__(User)
    manager.setup_instance(user, state_class(user, manager))
    instance_dict(user).update(row)
    make_transient_to_detached(user)
    return user


def _join(orm_session: Any, user: User) -> None:
    """Place `user` in `orm_session` as a query places a row it loaded (sqlalchemy.orm.loading.
    _instance) rather than by Session.add, which also begins a transaction and walks the user's
    relationships for cascades (~12 % of a cached page's time)."""
    state = instance_state(user)
    if state.session_id is None:
        state.session_id = orm_session.hash_key
        orm_session.identity_map.add(state)  # also notes a change made while it waited


class _SessionCheckedState(InstanceState[Any]):
    """The ORM state of the signed-in user until it joins the request's session: the first time
    SQLAlchemy asks for its session (to load something not read), the session is created, and
    the user joins it, so the load goes ahead as for a queried object."""

    __slots__ = ()

    @property
    def session(self) -> Any:
        if not self.session_id and has_request_context() and JOIN_REQUEST_SESSION in g:
            db.session()  # RequestSession takes the user in
        return InstanceState.session.fget(self)  # type: ignore[attr-defined]


def _touch_last_seen() -> None:
    now = utcnow().timestamp()
    last_seen = session.get("last_seen")
    if not isinstance(last_seen, (int, float)) or now - last_seen >= LAST_SEEN_RESOLUTION_SECONDS:
        session["last_seen"] = now


def load_user_from_remember_cookie(request: Request) -> User | None:
    """Bring back a member's session from a valid "remember me" cookie (not fresh, no staff)."""
    raw = request.cookies.get(REMEMBER_COOKIE)
    if not raw or len(raw) > 200:
        return None
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(raw)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.remember_until is None or row.remember_until <= now:
        g.clear_remember_cookie = True
        return None
    user = db.session.get(User, row.user_id)
    if user is None or user.disabled or user.role in STAFF_ROLES:
        g.clear_remember_cookie = True
        return None
    session.clear()
    session.permanent = True
    session["_user_id"] = user.get_id()
    session["_fresh"] = False
    session["sid"] = raw
    session["login_at"] = now.timestamp()
    session["last_seen"] = now.timestamp()
    session["mfa_ok"] = False
    session["remembered"] = True
    _new_csrf_secret()
    return user


def _new_csrf_secret() -> None:
    """A fresh CSRF secret for the new session, written with it: forms from before sign-in stop
    working, and the first page after sign-in does not have to write the cookie again."""
    g.pop("csrf_token", None)
    generate_csrf()


def _remember_cookie_headers(response: Response) -> Response:
    config = current_app.config
    raw = g.pop("remember_cookie", None)
    if raw:
        response.set_cookie(
            REMEMBER_COOKIE,
            raw,
            max_age=int(config["REMEMBER_COOKIE_DURATION"].total_seconds()),
            secure=bool(config.get("REMEMBER_COOKIE_SECURE")),
            httponly=True,
            samesite=config.get("REMEMBER_COOKIE_SAMESITE", "Lax"),
        )
    elif g.pop("clear_remember_cookie", False):
        response.delete_cookie(
            REMEMBER_COOKIE,
            secure=bool(config.get("REMEMBER_COOKIE_SECURE")),
            httponly=True,
            samesite=config.get("REMEMBER_COOKIE_SAMESITE", "Lax"),
        )
    return response


def _forget_loaded_user() -> None:
    """Load the user and their CSRF token afresh each request (tests share one app context, and so
    one `g`)."""
    for key in ("_login_user", "remember_cookie", "clear_remember_cookie", "csrf_token", JOIN_REQUEST_SESSION):
        g.pop(key, None)


def _load_user_first() -> None:
    """Read the signed-in user before the request touches the database otherwise, so the session
    check's connection goes back to the pool before the request's own is taken (one connection per
    request at a time, not two)."""
    if "_user_id" in session:
        getattr(current_user, "is_authenticated", None)


def init_app(app: Flask) -> None:
    # The cookie is written when the session changes (and `last_seen` changes once a minute while
    # the browser is active), not re-signed on every response; its signed time and expiry move
    # with `last_seen`, so the idle timeout holds to within LAST_SEEN_RESOLUTION_SECONDS.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.session_interface = CookieSessionInterface()
    app.before_request(_forget_loaded_user)
    app.before_request(_load_user_first)
    login_manager.user_loader(load_user)
    login_manager.request_loader(load_user_from_remember_cookie)
    app.after_request(_remember_cookie_headers)
