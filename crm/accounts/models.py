"""Sign-in accounts and their single-use tokens."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.types import UTCDateTime, utcnow
from crm.extensions import Model

if TYPE_CHECKING:
    from crm.contacts.models import Contact

ROLES = ("member", "editor", "staff", "admin")
STAFF_ROLES = ("editor", "staff", "admin")


class RoleRules:
    """What a role may reach, for anything with a `role`: the ORM `User` and the session check's
    `SignedInUser` (crm.accounts.signed_in) answer the same."""

    if TYPE_CHECKING:
        role: str

    @property
    def is_staff(self) -> bool:
        return self.role in ("staff", "admin")

    @property
    def is_editor(self) -> bool:
        return self.role in STAFF_ROLES


class User(RoleRules, UserMixin, Model):
    """A login. Its email is its contact's email."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), unique=True)
    #: member, editor, staff or admin
    role: Mapped[str] = mapped_column(String(20), default="member")
    #: argon2id; empty until the member sets a password.
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    #: Bumped on sign-out everywhere, password change or reset: older sessions stop working.
    session_version: Mapped[int] = mapped_column(default=1)
    disabled: Mapped[bool] = mapped_column(default=False)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    #: The last TOTP time step accepted, so a code works once.
    totp_last_step: Mapped[int | None]
    #: SHA-256 hashes of unused recovery codes.
    recovery_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Wrong second-factor codes since the last right one, counted here (not in the browser's
    #: cookie) so replaying an older cookie or signing in again never resets the count.
    mfa_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    #: After MAX_CODE_FAILURES wrong codes, no code is accepted until this time.
    mfa_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="user")

    def get_id(self) -> str:
        # The session version is part of the id, so a bumped version invalidates old cookies.
        return f"{self.id}:{self.session_version}"

    @property
    def account(self) -> User:
        """Itself: `current_user.account` is the ORM `User` whether Flask-Login holds this or a
        `SignedInUser` (crm.accounts.signed_in)."""
        return self

    @property
    def email(self) -> str:
        return self.contact.email

    @property
    def is_active(self) -> bool:
        return not self.disabled


class AuthToken(Model):
    """A single-use emailed token. Only its SHA-256 is stored."""

    __tablename__ = "auth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: set_password, login_link, reset_password, confirm_subscription
    purpose: Mapped[str] = mapped_column(String(40))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Who asked for it (a hash of their network address): the hourly email caps count per
    #: requester, so a stranger's requests cannot use up the owner's.
    requester: Mapped[str | None] = mapped_column(String(64))


class UserSession(Model):
    """One signed-in browser. The cookie carries a random id whose SHA-256 is stored here, so
    signing out (or "sign out everywhere", a password change or reset) really ends it."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When the session started (GETs write nothing, so this is not updated per request).
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Until when a "remember me" cookie may bring this session back (None: no remember me).
    remember_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
