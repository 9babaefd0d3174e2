"""The staff second factor: TOTP (each code accepted once) or a one-time recovery code.

Between the password and the second factor the browser holds only `mfa_pending` in its session,
not a signed-in user, so a stolen staff password alone opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

import pyotp
from flask import current_app, session
from sqlalchemy import or_, update

from crm.accounts.models import User
from crm.core.database import affected_rows
from crm.core.types import utcnow
from crm.extensions import db

RECOVERY_CODE_COUNT = 10
#: How long the password step stays good while the second factor is asked for.
PENDING_SECONDS = 600
#: Wrong codes (per account, counted on the server) before the second factor is locked for a while.
MAX_CODE_FAILURES = 5
#: How long the second factor stays locked after that (the owner waits; the password is not enough).
LOCK_MINUTES = 15


def begin(user: User, *, next_url: str | None) -> None:
    """Password accepted for a staff account: remember that (only) until the second factor."""
    session.clear()
    session["mfa_pending"] = {
        "uid": user.id,
        "v": user.session_version,
        "at": utcnow().timestamp(),
        "next": next_url,
    }


def pending() -> dict[str, Any] | None:
    data = session.get("mfa_pending")
    if not isinstance(data, dict):
        return None
    if utcnow().timestamp() - float(data.get("at", 0)) > PENDING_SECONDS:
        return None
    return data


def pending_user() -> User | None:
    data = pending()
    if data is None:
        return None
    user = db.session.get(User, data.get("uid"))
    if user is None or user.disabled or user.session_version != data.get("v"):
        return None
    return user


def is_locked(user: User) -> bool:
    """Too many wrong codes for this account lately: no code is accepted, whatever the cookie."""
    return user.mfa_locked_until is not None and user.mfa_locked_until > utcnow()


def note_failure(user: User) -> bool:
    """Count a wrong code against the account; True when the password step must be redone.

    The count lives in the database (one UPDATE, so parallel guesses all count): an older cookie
    or a fresh password step does not reset it. The fifth wrong code locks the second factor for
    LOCK_MINUTES; only a right code resets the count. Flushes.
    """
    db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(mfa_failures=User.mfa_failures + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(user)
    if user.mfa_failures >= MAX_CODE_FAILURES:
        user.mfa_failures = 0
        user.mfa_locked_until = utcnow() + timedelta(minutes=LOCK_MINUTES)
        db.session.flush()
    if is_locked(user) or pending() is None:
        session.pop("mfa_pending", None)
        return True
    return False


def note_success(user: User) -> None:
    """A right code: the account's count of wrong ones starts again."""
    user.mfa_failures = 0
    user.mfa_locked_until = None


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=current_app.config["ORG_NAME"])


def _clean_code(code: str) -> str:
    return "".join(ch for ch in (code or "") if ch.isalnum()).lower()


def matching_step(secret: str, code: str) -> int | None:
    """The time step whose code this is (now, or one step either side), or None."""
    code = _clean_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    try:
        totp = pyotp.TOTP(secret)
    except ValueError:  # a damaged or too-short stored secret matches nothing
        return None
    now_step = totp.timecode(utcnow())
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def current_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(utcnow()))


def verify_totp(user: User, code: str) -> bool:
    """Accept a code once: the step is stored with a conditional UPDATE, so a replay fails."""
    if not user.totp_enabled or not user.totp_secret:
        return False
    step = matching_step(user.totp_secret, code)
    if step is None:
        return False
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if affected_rows(result) != 1:
        return False
    db.session.refresh(user)
    return True


def _hash_code(code: str) -> str:
    return hashlib.sha256(_clean_code(code).encode()).hexdigest()


def new_recovery_codes(user: User) -> list[str]:
    """Ten fresh codes, shown once; only their SHA-256 is kept. Older codes stop working."""
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODE_COUNT)]
    user.recovery_codes = [_hash_code(code) for code in codes]
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    cleaned = _clean_code(code)
    if len(cleaned) != 12:
        return False
    digest = _hash_code(cleaned)
    remaining = list(user.recovery_codes or [])
    match = next((stored for stored in remaining if hmac.compare_digest(stored, digest)), None)
    if match is None:
        return False
    remaining.remove(match)
    user.recovery_codes = remaining
    return True


def enrol(user: User, secret: str, code: str) -> list[str] | None:
    """Turn on TOTP if the code matches the new secret; returns the recovery codes to show once."""
    step = matching_step(secret, code)
    if step is None:
        return None
    user.totp_secret = secret
    user.totp_enabled = True
    user.totp_last_step = step
    codes = new_recovery_codes(user)
    db.session.flush()
    return codes
