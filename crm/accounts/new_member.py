"""A new member gets an account and the welcome email: accounts' step in the lifecycle's first activation."""

from __future__ import annotations

from crm.accounts.services import ensure_member_account, send_welcome_email
from crm.memberships.lifecycle.hooks import on_first_activation
from crm.memberships.models import Membership


def open_account_for_new_member(membership: Membership) -> None:
    """The member's login (made when they have none) and, for a new login, the set-password welcome
    (on a joint plan it names the other adult, and says when the other adult pays)."""
    contact = membership.contact
    had_user = contact.user is not None
    user = ensure_member_account(contact)
    if not had_user:
        payer = membership.joint_primary.contact if membership.joint_primary is not None else None
        other = payer or membership.partner
        send_welcome_email(user, joint_with=other.full_name if other else "", paid_by_other=payer is not None)


def init_app() -> None:
    """Register with the lifecycle (`create_app` calls this)."""
    on_first_activation("accounts", open_account_for_new_member)
