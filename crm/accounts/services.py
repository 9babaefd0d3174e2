"""Account rules: member accounts, welcome and sign-in emails, passwords. Functions flush; the
caller (route, webhook, CLI) commits."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import current_app, has_request_context, request
from flask.sansio.app import App
from sqlalchemy import select, update

from crm.accounts import tokens
from crm.accounts.models import User, UserSession
from crm.accounts.passwords import hash_password, needs_rehash, verify_password
from crm.audit.services import record
from crm.contacts.models import Contact
from crm.contacts.services import email_key
from crm.core.types import utcnow
from crm.email.models import OutboxMessage
from crm.email.services import queue_email
from crm.extensions import db

#: Reset and sign-in-link emails an hour for one account asked for by one requester (network
#: address); more requests from them send nothing (the page looks the same).
EMAILS_PER_HOUR = 3
#: ...and for one account from everyone together (a mail-bomb ceiling): a stranger alone can use up
#: only their own three, so the owner asking from elsewhere still gets a link.
ACCOUNT_EMAILS_PER_HOUR = 10


def _link(path: str) -> str:
    """Links in emails come from BASE_URL, never from the request's Host header."""
    return f"{current_app.config['BASE_URL'].rstrip('/')}{path}"


def find_user_by_email(email: str) -> User | None:
    email = email_key(email)
    if not email:
        return None
    return db.session.scalar(select(User).join(User.contact).where(Contact.email == email))


def ensure_member_account(contact: Contact) -> User:
    """The contact's login, created (role member, no password yet) if they have none."""
    if contact.user is not None:
        return contact.user
    user = User(contact=contact, role="member", password_hash="")
    db.session.add(user)
    db.session.flush()
    return user


def send_welcome_email(
    user: User, *, resend: bool = False, joint_with: str = "", paid_by_other: bool = False
) -> None:
    """Queue the welcome email with a set-password link (24 h, single use), once per account.

    `resend=True` (a staff action) sends a fresh link even when a welcome went before.
    `joint_with` names the other adult of a joint membership; `paid_by_other` when they pay.
    """
    dedupe_key = f"welcome:{user.id}"
    if not resend and db.session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    ):
        return  # the first link stays valid: issuing a new token would break it
    raw = tokens.issue_token(tokens.SET_PASSWORD, user=user, ttl=tokens.SET_PASSWORD_TTL)
    queue_email(
        user.email,
        "welcome",
        {
            "set_password_url": _link(f"/password/set/{raw}"),
            "first_name": user.contact.first_name,
            "has_password": bool(user.password_hash),
            "login_url": _link("/login"),
            "joint_with": joint_with,
            "paid_by_other": paid_by_other,
        },
        contact_id=user.contact_id,
        dedupe_key=None if resend else dedupe_key,
        one_time_link="set_password_url",
    )


def authenticate(email: str, password: str) -> User | None:
    """The user for this email and password, or None, taking the same time for an unknown email.

    A hash made with older argon2 parameters is upgraded here, while the password is known.
    """
    user = find_user_by_email(email)
    stored = user.password_hash if user is not None else None
    if not verify_password(stored, password) or user is None or user.disabled:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def record_login(user: User) -> None:
    user.last_login_at = utcnow()
    record("login.success", actor=user, target_type="user", target_id=user.id, contact_id=user.contact_id)


def record_login_failure(email: str, reason: str = "bad credentials") -> None:
    """Audit a failed sign-in; the attempted email is cleaned of control characters by `record`."""
    user = find_user_by_email(email)
    record(
        "login.failure",
        actor_label=email_key(email)[:254] or "(empty)",
        target_type="user",
        target_id=user.id if user else "",
        contact_id=user.contact_id if user else None,
        detail=reason,
    )


def revoke_sessions(user: User, *, keep_session_id: int | None = None) -> None:
    """End every session of this user (but the one kept): copies of their cookies stop working."""
    query = update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    if keep_session_id is not None:
        query = query.where(UserSession.id != keep_session_id)
    db.session.execute(query.values(revoked_at=utcnow()).execution_options(synchronize_session=False))


def sign_out_everywhere(user: User) -> None:
    """Every session ends, including the current one and any "remember me" cookie."""
    user.session_version += 1
    revoke_sessions(user)
    record("logout.everywhere", actor=user, target_type="user", target_id=user.id, contact_id=user.contact_id)


def set_new_password(user: User, password: str, *, reason: str) -> None:
    """Store a new password and end every other session (the caller may start a new one)."""
    user.password_hash = hash_password(password)
    user.session_version += 1
    revoke_sessions(user)
    record(
        f"password.{reason}", actor=user, target_type="user", target_id=user.id, contact_id=user.contact_id
    )
    if reason in ("reset", "changed"):
        queue_email(
            user.email,
            "password_changed",
            {"first_name": user.contact.first_name, "reset_url": _link("/password/reset")},
            contact_id=user.contact_id,
        )


def _requester() -> str:
    """Who is asking, as a hash of the network address (PROXY_COUNT decides which address)."""
    address = request.remote_addr or "" if has_request_context() else "(no request)"
    return hashlib.sha256(address.encode()).hexdigest()[:64]


def _may_email(purpose: str, user: User, requester: str) -> bool:
    """The hourly caps (documented in README "Rate limits"): per requester and account, and per
    account from everyone."""
    if tokens.tokens_issued_since(purpose, user, 3600, requester=requester) >= EMAILS_PER_HOUR:
        return False
    return tokens.tokens_issued_since(purpose, user, 3600) < ACCOUNT_EMAILS_PER_HOUR


#: Where `register_no_account_answer` keeps its handlers (per app).
_NO_ACCOUNT_ANSWERS = "crm.accounts.no_account_answers"


def register_no_account_answer(app: App, answer: Callable[[str], None]) -> None:
    """What to send an address that asked for a sign-in or reset link but has no account (billing
    registers the donor's receipt links), so accounts imports no billing."""
    app.extensions.setdefault(_NO_ACCOUNT_ANSWERS, []).append(answer)


def _answer_without_account(email: str) -> None:
    for answer in current_app.extensions.get(_NO_ACCOUNT_ANSWERS, ()):
        answer(email)


def request_login_link(email: str) -> None:
    """Email a one-time sign-in link if the account exists; never creates an account."""
    user = find_user_by_email(email)
    if user is None:
        _answer_without_account(email)  # a donor has no account: their receipts instead of silence
        return
    if user.disabled:
        return
    requester = _requester()
    if not _may_email(tokens.LOGIN_LINK, user, requester):
        return
    raw = tokens.issue_token(tokens.LOGIN_LINK, user=user, ttl=tokens.LOGIN_LINK_TTL, requester=requester)
    queue_email(
        user.email,
        "login_link",
        {"login_link_url": _link(f"/login/link/{raw}"), "first_name": user.contact.first_name, "minutes": 15},
        contact_id=user.contact_id,
        one_time_link="login_link_url",
    )


@contextmanager
def same_time_for_everyone(seconds: float | None = None) -> Iterator[None]:
    """Answer no sooner than `seconds` (ENUMERATION_FLOOR_SECONDS, default 0.1 s): a known email
    does more work (a token, an email) than an unknown one, and timing must not tell them apart."""
    floor = (
        seconds if seconds is not None else float(current_app.config.get("ENUMERATION_FLOOR_SECONDS", 0.1))
    )
    started = time.monotonic()
    try:
        yield
    finally:
        left = floor - (time.monotonic() - started)
        if left > 0:
            time.sleep(left)


def request_password_reset(email: str) -> None:
    """Email a reset link (60 min) if the account exists; the answer never says which."""
    user = find_user_by_email(email)
    record(
        "password.reset_requested",
        actor_label=email_key(email)[:254] or "(empty)",
        target_type="user",
        target_id=user.id if user else "",
        contact_id=user.contact_id if user else None,
    )
    if user is None:
        _answer_without_account(email)  # a donor has no account: their receipts instead of silence
        return
    if user.disabled:
        return
    requester = _requester()
    if not _may_email(tokens.RESET_PASSWORD, user, requester):
        return
    raw = tokens.issue_token(
        tokens.RESET_PASSWORD, user=user, ttl=tokens.RESET_PASSWORD_TTL, requester=requester
    )
    queue_email(
        user.email,
        "reset_password",
        {"reset_url": _link(f"/password/reset/{raw}"), "first_name": user.contact.first_name, "minutes": 60},
        contact_id=user.contact_id,
        one_time_link="reset_url",
    )


def check_current_password(user: User, password: str) -> bool:
    return verify_password(user.password_hash or None, password)
