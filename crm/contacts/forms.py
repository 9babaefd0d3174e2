"""WTForms pieces for contact fields, shared by every form that asks for them."""

from __future__ import annotations

from typing import Any

from wtforms.validators import ValidationError

from crm.contacts.services import EmailAddressError, normalise_email


def valid_email(form: Any, field: Any) -> None:
    """The app's one email check (crm.contacts.services) as a validator; keeps the typed value."""
    if not (field.data or "").strip():
        return  # DataRequired says it is missing
    try:
        normalise_email(field.data)
    except EmailAddressError as error:
        raise ValidationError(str(error)) from error
