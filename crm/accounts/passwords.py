"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context
from flask_babel import gettext

MIN_LENGTH = 10
MAX_LENGTH = 256
#: Production strength: argon2-cffi's defaults (argon2id, m=65536 KiB, t=3, p=4), above OWASP's
#: minimum (m=19456, t=2). Only the testing configuration lowers them, through the settings
#: PASSWORD_HASH_TIME_COST, PASSWORD_HASH_MEMORY_COST and PASSWORD_HASH_PARALLELISM.
TIME_COST = 3
MEMORY_COST = 65536
PARALLELISM = 4


@lru_cache(maxsize=4)
def _hasher_with(time_cost: int, memory_cost: int, parallelism: int) -> tuple[PasswordHasher, str]:
    """The hasher for these parameters and its dummy hash, verified against when the email is
    unknown, so both paths cost the same time."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    return hasher, hasher.hash("dummy password for timing equality")


def _hasher() -> tuple[PasswordHasher, str]:
    config = current_app.config if has_app_context() else {}
    return _hasher_with(
        int(config.get("PASSWORD_HASH_TIME_COST") or TIME_COST),
        int(config.get("PASSWORD_HASH_MEMORY_COST") or MEMORY_COST),
        int(config.get("PASSWORD_HASH_PARALLELISM") or PARALLELISM),
    )


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    if not path.exists():
        return frozenset()
    lines = (line.strip().lower() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def hash_password(password: str) -> str:
    return _hasher()[0].hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not there is a stored hash."""
    hasher, dummy_hash = _hasher()
    try:
        return hasher.verify(stored_hash or dummy_hash, password) and bool(stored_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher()[0].check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None. No composition rules (NIST 800-63B)."""
    if len(password) < MIN_LENGTH:
        return gettext("Your password must be at least %(num)d characters long.", num=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return gettext("Your password must be at most %(num)d characters long.", num=MAX_LENGTH)
    if password.lower() in _common_passwords():
        return gettext("That password is too common. Please choose another, e.g. three random words.")
    return None
