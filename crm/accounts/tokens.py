"""Single-use emailed tokens: only their SHA-256 is stored, a new one replaces older ones."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import ColumnElement, func, select, update

from crm.accounts.models import AuthToken, User
from crm.contacts.models import Contact
from crm.core.database import affected_rows
from crm.core.types import utcnow
from crm.extensions import db

SET_PASSWORD = "set_password"  # noqa: S105  (a purpose name, not a secret)
LOGIN_LINK = "login_link"
RESET_PASSWORD = "reset_password"  # noqa: S105  (a purpose name, not a secret)

SET_PASSWORD_TTL = timedelta(hours=24)
LOGIN_LINK_TTL = timedelta(minutes=15)
RESET_PASSWORD_TTL = timedelta(minutes=60)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _owner_filter(purpose: str, user: User | None, contact: Contact | None) -> list[ColumnElement[bool]]:
    if user is not None:
        return [AuthToken.purpose == purpose, AuthToken.user_id == user.id]
    if contact is None:
        raise ValueError("a token belongs to a user or a contact")
    return [AuthToken.purpose == purpose, AuthToken.contact_id == contact.id]


def issue_token(
    purpose: str,
    *,
    user: User | None = None,
    contact: Contact | None = None,
    ttl: timedelta,
    requester: str | None = None,
) -> str:
    """A new raw token (for the email only); older unused tokens of that purpose stop working."""
    if user is None and contact is None:
        raise ValueError("a token belongs to a user or a contact")
    now = utcnow()
    db.session.execute(
        update(AuthToken)
        .where(*_owner_filter(purpose, user, contact), AuthToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    raw = secrets.token_urlsafe(32)
    db.session.add(
        AuthToken(
            purpose=purpose,
            token_hash=hash_token(raw),
            user_id=user.id if user is not None else None,
            contact_id=contact.id if contact is not None else (user.contact_id if user else None),
            expires_at=now + ttl,
            requester=requester,
        )
    )
    db.session.flush()
    return raw


def find_token(purpose: str, raw: str) -> AuthToken | None:
    """The token if it is still usable, without using it (for pages that show a button first)."""
    if not raw or len(raw) > 200:
        return None
    token = db.session.scalar(
        select(AuthToken).where(AuthToken.token_hash == hash_token(raw), AuthToken.purpose == purpose)
    )
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        return None
    return token


def consume_token(purpose: str, raw: str) -> AuthToken | None:
    """Use a token once: a conditional UPDATE, so two requests racing with one token get one win."""
    token = find_token(purpose, raw)
    if token is None:
        return None
    now = utcnow()
    result = db.session.execute(
        update(AuthToken)
        .where(AuthToken.id == token.id, AuthToken.used_at.is_(None), AuthToken.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if affected_rows(result) != 1:
        return None
    db.session.refresh(token)
    return token


def tokens_issued_since(purpose: str, user: User, since_seconds: int, *, requester: str | None = None) -> int:
    """How many tokens of a purpose were issued to this user recently (to cap emails per hour);
    with `requester`, only those that requester asked for."""
    since = utcnow() - timedelta(seconds=since_seconds)
    query = select(func.count(AuthToken.id)).where(
        AuthToken.purpose == purpose, AuthToken.user_id == user.id, AuthToken.created_at >= since
    )
    if requester is not None:
        query = query.where(AuthToken.requester == requester)
    return db.session.scalar(query) or 0
