"""Server-checked sessions on top of Flask-Login.

The cookie carries "<id>:<session_version>" (Flask-Login's user id) and `sid`, a random id whose
SHA-256 is a `UserSession` row. The user loader refuses a session whose row is revoked (sign-out,
sign out everywhere, password change or reset), idle for longer than PERMANENT_SESSION_LIFETIME,
or, for staff, older than STAFF_SESSION_ABSOLUTE_HOURS. "Remember me" is our own cookie naming
the same row, so signing out ends both. Staff never get a remember-me cookie.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, g, session
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import Engine, Select, bindparam, select, update
from sqlalchemy.engine import Compiled
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from crm.accounts.cookie import CookieSessionInterface
from crm.accounts.models import STAFF_ROLES, User, UserSession
from crm.accounts.signed_in import SignedInUser
from crm.accounts.tokens import hash_token
from crm.core.permissions import register_session_ender
from crm.core.types import utcnow
from crm.extensions import db, login_manager

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


def _expired(role: str) -> bool:
    now = utcnow().timestamp()
    idle = current_app.permanent_session_lifetime.total_seconds()
    login_at = session.get("login_at")
    last_seen = session.get("last_seen") or login_at
    if not isinstance(login_at, (int, float)) or not isinstance(last_seen, (int, float)):
        return True
    if now - last_seen > idle:
        return True
    if role in STAFF_ROLES:
        absolute = current_app.config.get("STAFF_SESSION_ABSOLUTE_HOURS", 12) * 3600
        if now - login_at > absolute:
            return True
    return False


#: `last_seen` (the idle clock) is written at most this often, so an active member's session cookie
#: is re-signed about once a minute rather than on every response; the idle timeout is kept to
#: within this many seconds.
LAST_SEEN_RESOLUTION_SECONDS = 60


def load_user(user_id: str) -> SignedInUser | None:
    """The signed-in user, when their session row is live: one statement reads the user's plain
    values, checks the row and reads their latest membership's status (no ORM `User` is loaded:
    `SignedInUser.account` loads it for a view that needs it)."""
    raw = session.get("sid")
    if not raw or not isinstance(raw, str):
        return None
    try:
        raw_id, raw_version = user_id.split(":", 1)
        ident, version = int(raw_id), int(raw_version)
    except (ValueError, TypeError, AttributeError):
        return None
    row = _check_session(ident, hash_token(raw))
    if row is None:
        return None
    if row.disabled or row.session_version != version:
        return None
    if _expired(row.role):
        return None
    _touch_last_seen()
    return SignedInUser(
        id=row.id,
        contact_id=row.contact_id,
        role=row.role,
        session_version=row.session_version,
        latest_membership_status=row.latest_status,
    )


def _check_session(user_id: int, token_hash: str) -> _SessionRow | None:
    """Run the session check on a pooled connection of its own, so that a page reading nothing
    else (the cached /news) never starts the request's ORM session, and on PostgreSQL in
    autocommit: one round trip, where the request's session would add a BEGIN and, at its end, a
    ROLLBACK. An in-memory SQLite database (the tests') is one connection shared by every session
    (a StaticPool), which a connection of its own would reset: there it runs in the session."""
    params = {"user_id": user_id, "token_hash": token_hash}
    engine = db.engine
    if isinstance(engine.pool, StaticPool):
        row = db.session.execute(_session_check(), params).first()
        return None if row is None else _SessionRow(*row)
    check, dbapi_error = _compiled_check(engine), engine.dialect.loaded_dbapi.Error
    with _own_connection(engine).connect() as conn:
        try:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(check.sql, check.parameters(params))
                found = cursor.fetchone()
            finally:
                cursor.close()
        except dbapi_error as error:
            # As SQLAlchemy does for its own statements: the error becomes its own (OperationalError,
            # ProgrammingError...: the 503 page), and a lost connection (the database restarted) is
            # dropped with every other one made before it, so the next requests get new ones.
            lost = engine.dialect.is_disconnect(error, conn.connection.dbapi_connection, None)
            if lost:
                conn.invalidate()
                db.engine.dispose()
            raise DBAPIError.instance(
                check.sql, None, error, dbapi_error, connection_invalidated=lost
            ) from error
    return None if found is None else _SessionRow(*found)


class _SessionRow(NamedTuple):
    id: int
    contact_id: int
    role: str
    session_version: int
    disabled: bool
    latest_status: str


@dataclass(frozen=True)
class _CompiledCheck:
    """The session check compiled once for an engine's dialect, run on the pooled connection's
    DBAPI cursor (`Connection.connection`, SQLAlchemy's documented way down to the driver): the
    statement reads only integers and strings, so it needs none of SQLAlchemy's result processing,
    whose per-statement set-up (the driver's column descriptions, the result's metadata) was a third
    of the check's CPU on PostgreSQL (bench/README.md, row 1)."""

    sql: str
    compiled: Compiled
    order: tuple[str, ...] | None

    def parameters(self, values: dict[str, Any]) -> Any:
        bound = self.compiled.construct_params(values) or {}
        return bound if self.order is None else tuple(bound[name] for name in self.order)


@lru_cache(maxsize=8)
def _compiled_check(engine: Engine) -> _CompiledCheck:
    compiled = _session_check().compile(dialect=engine.dialect)
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    return _CompiledCheck(compiled.string, compiled, order)


@lru_cache(maxsize=8)
def _own_connection(engine: Engine) -> Engine:
    """`engine` (the same pool) in autocommit on PostgreSQL; SQLite's driver begins no transaction
    for a read anyway. Made once per engine."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


@cache
def _session_check() -> Select[Any]:
    """The plain values of user `:user_id` when `:token_hash` is a live (not revoked) session row of
    theirs, with their latest membership's status. Core, on the tables: no ORM entity to build.
    Built once per process: building a statement costs more than running this one."""
    from crm.memberships.queries import latest_status_column

    users, sessions = User.__table__.c, UserSession.__table__.c
    return (
        select(
            users.id,
            users.contact_id,
            users.role,
            users.session_version,
            users.disabled,
            latest_status_column(users.contact_id).label("latest_status"),
        )
        .join_from(User.__table__, UserSession.__table__, sessions.user_id == users.id)
        .where(
            users.id == bindparam("user_id"),
            sessions.token_hash == bindparam("token_hash"),
            sessions.revoked_at.is_(None),
        )
    )


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


def _load_user_afresh() -> None:
    """Forget the user and CSRF token of an earlier request (tests share one app context, and so
    one `g`), then read the signed-in user first, so every later use of `current_user` in the
    request finds it loaded."""
    for key in ("_login_user", "remember_cookie", "clear_remember_cookie", "csrf_token"):
        g.pop(key, None)
    if "_user_id" in session:
        getattr(current_user, "is_authenticated", None)


def init_app(app: Flask) -> None:
    # The cookie is written when the session changes (and `last_seen` changes once a minute while
    # the browser is active), not re-signed on every response; its signed time and expiry move
    # with `last_seen`, so the idle timeout holds to within LAST_SEEN_RESOLUTION_SECONDS.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.session_interface = CookieSessionInterface()
    app.before_request(_load_user_afresh)
    login_manager.user_loader(load_user)
    register_session_ender(app, end_session)
    login_manager.request_loader(load_user_from_remember_cookie)
    app.after_request(_remember_cookie_headers)
