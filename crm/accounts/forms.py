"""Sign-in and password forms. Password fields are never re-displayed after an error."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from crm.accounts.passwords import MAX_LENGTH, password_problem
from crm.contacts.services import email_problem


def _email_format(form: FlaskForm, field: StringField) -> None:
    if (field.data or "").strip() and email_problem(field.data):
        raise ValidationError(_l("Enter an email address in the correct format, like name@example.org"))


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _email_field() -> StringField:
    return StringField(
        _l("Email address"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Enter your email address")),
            Length(max=254, message=_l("Email addresses are at most 254 characters")),
            _email_format,
        ],
    )


def _new_password(form: FlaskForm, field: PasswordField) -> None:
    problem = password_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


class LoginForm(FlaskForm):
    email = _email_field()
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(_l("Enter your password")),
            Length(max=MAX_LENGTH, message=_l("That password is too long")),
        ],
    )
    remember = BooleanField(_l("Keep me signed in on this device for 14 days"))
    next = HiddenField()


class EmailForm(FlaskForm):
    email = _email_field()


class ConfirmForm(FlaskForm):
    """A button only: CSRF-protected so a scanner that opens a link never uses it."""


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"), validators=[DataRequired(_l("Enter a new password")), _new_password]
    )
    confirm = PasswordField(
        _l("Confirm new password"),
        validators=[
            DataRequired(_l("Enter the new password again")),
            EqualTo("password", _l("The two passwords do not match")),
        ],
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[
            DataRequired(_l("Enter your current password")),
            Length(max=MAX_LENGTH, message=_l("That password is too long")),
        ],
    )
    password = PasswordField(
        _l("New password"), validators=[DataRequired(_l("Enter a new password")), _new_password]
    )
    confirm = PasswordField(
        _l("Confirm new password"),
        validators=[
            DataRequired(_l("Enter the new password again")),
            EqualTo("password", _l("The two passwords do not match")),
        ],
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Security code"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Enter the 6-digit code from your authenticator app, or a recovery code")),
            Length(
                max=32, message=_l("Enter the 6-digit code from your authenticator app, or a recovery code")
            ),
        ],
    )


class EnrolForm(FlaskForm):
    code = StringField(
        _l("Code from your authenticator app"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Enter the 6-digit code your app shows")),
            Length(max=12, message=_l("Enter the 6-digit code your app shows")),
        ],
    )
