"""Who is signed in, as Flask-Login's `current_user`: the few plain values every page reads (who,
which role, the latest membership's status for the menu and the news teasers), read by the
session check in one statement; the ORM `User` is loaded only when a view needs it.

Flask-Login's user loader may return any object with its user interface (`is_authenticated`,
`is_active`, `is_anonymous`, `get_id`); loading a `User` instance on every request was a third
of the signed-in `/news` page's CPU (bench/README.md, row 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from flask_login import UserMixin

from crm.accounts.models import RoleRules, User
from crm.extensions import db

if TYPE_CHECKING:
    from crm.contacts.models import Contact


@dataclass(frozen=True, eq=False)
class SignedInUser(RoleRules, UserMixin):
    """The signed-in user of this request (the session check has found their session live).

    Read-only: a view that changes the account (password, second factor, sign out everywhere)
    works on `account`, the ORM `User`. Reading any other `User` attribute here reads it from
    `account` too, so `current_user.totp_enabled` still works (and costs the load).
    """

    id: int
    contact_id: int
    #: member, editor, staff or admin
    role: str
    session_version: int
    #: The status of the contact's latest membership (the current one first), "" if they never
    #: joined (crm.memberships.queries.latest_status_column).
    latest_membership_status: str

    @cached_property
    def account(self) -> User:
        """The ORM `User`, loaded on first use (one per request: the session's identity map)."""
        return db.session.get_one(User, self.id)

    @property
    def contact(self) -> Contact:
        return self.account.contact

    @property
    def email(self) -> str:
        return self.account.email

    def get_id(self) -> str:
        # As User.get_id: the session version is part of Flask-Login's id.
        return f"{self.id}:{self.session_version}"

    def __getattr__(self, name: str) -> Any:
        # Only what a User has, and nothing private (copy and pickle probe for those).
        if name.startswith("_") or not hasattr(User, name):
            raise AttributeError(name)
        return getattr(self.account, name)
