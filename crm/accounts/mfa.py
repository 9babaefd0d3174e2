"""The staff second factor: TOTP (each code accepted once) or a one-time recovery code.

Between the password and the second factor the browser holds only `mfa_pending` in its session,
not a signed-in user, so a stolen staff password alone opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import pyotp
from flask import current_app, session
from sqlalchemy import or_, update

from crm.accounts.models import User
from crm.core.types import utcnow
from crm.extensions import db

RECOVERY_CODE_COUNT = 10
#: How long the password step stays good while the second factor is asked for.
PENDING_SECONDS = 600
#: Wrong codes allowed before the password must be entered again.
MAX_CODE_FAILURES = 5


def begin(user: User, *, next_url: str | None) -> None:
    """Password accepted for a staff account: remember that (only) until the second factor."""
    session.clear()
    session["mfa_pending"] = {
        "uid": user.id,
        "v": user.session_version,
        "at": utcnow().timestamp(),
        "next": next_url,
        "failures": 0,
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


def note_failure() -> bool:
    """Count a wrong code; True when too many were tried and the password step must be redone."""
    data = pending()
    if data is None:
        return True
    data["failures"] = int(data.get("failures", 0)) + 1
    session["mfa_pending"] = data
    if data["failures"] >= MAX_CODE_FAILURES:
        session.pop("mfa_pending", None)
        return True
    return False


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
    if result.rowcount != 1:  # type: ignore[attr-defined]
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
