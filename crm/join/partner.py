"""The second adult of a joint plan on the join form: their name and email (same address).

Asked only when the chosen plan is joint; the payer's own fields and checks are in forms.py.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Length, ValidationError

from crm.contacts.models import Contact
from crm.contacts.services import EmailAddressError, email_key, normalise_email
from crm.extensions import db
from crm.memberships.lifecycle import MEMBER_STATUSES
from crm.memberships.models import Membership


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def is_member(email: str) -> bool:
    """Someone who is a member (or paying by Direct Debit) already cannot be named a second time."""
    found = db.session.scalar(
        select(Membership.id)
        .join(Contact, Contact.id == Membership.contact_id)
        .where(Contact.email == email, Membership.status.in_(MEMBER_STATUSES))
        .limit(1)
    )
    return found is not None


class PartnerFields(FlaskForm):
    """Mixed into JoinForm, which gives `chosen_plan` and `email`."""

    email: Any

    partner_first_name = StringField(
        _l("Their given name"),
        filters=[_strip],
        validators=[Length(max=100, message=_l("First name must be %(max)d characters or fewer."))],
    )
    partner_last_name = StringField(
        _l("Their family name"),
        filters=[_strip],
        validators=[Length(max=100, message=_l("Last name must be %(max)d characters or fewer."))],
    )
    partner_email = StringField(_l("Their email"), filters=[_strip])

    @property
    def is_joint(self) -> bool:
        plan = getattr(self, "chosen_plan", None)  # noqa: B009  (JoinForm's; None while unchosen)
        return bool(plan is not None and plan.joint)

    def validate_partner_first_name(self, field: Any) -> None:
        if self.is_joint and not field.data:
            raise ValidationError(gettext("Enter the first name of the second adult."))

    def validate_partner_last_name(self, field: Any) -> None:
        if self.is_joint and not field.data:
            raise ValidationError(gettext("Enter the last name of the second adult."))

    def validate_partner_email(self, field: Any) -> None:
        if not self.is_joint:
            field.data = ""  # a plan for one names nobody, whatever was typed before
            return
        if not field.data:
            raise ValidationError(gettext("Enter the email address of the second adult."))
        try:
            field.data = normalise_email(field.data)
        except EmailAddressError as error:
            raise ValidationError(str(error)) from error
        own = email_key(self.email.data)
        if field.data == own:
            raise ValidationError(
                gettext(
                    "Each adult needs their own email address: enter a different one for the second adult."
                )
            )
        if is_member(field.data):
            raise ValidationError(
                gettext(
                    "The second adult is already a member, so they cannot join a second time. "
                    "Choose a plan for one, or name someone else."
                )
            )

    def partner_details(self) -> dict[str, str]:
        return {
            "first_name": self.partner_first_name.data or "",
            "last_name": self.partner_last_name.data or "",
        }
