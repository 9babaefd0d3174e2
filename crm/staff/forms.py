"""Forms for the staff pages: filters (GET, no CSRF) and the member actions (POST, CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from crm.billing.models import (
    OFFLINE_PAYMENT_METHODS,
    PAYMENT_KIND_WORDS,
    PAYMENT_METHOD_WORDS,
    PAYMENT_METHODS,
    PAYMENT_STATUS_WORDS,
    PAYMENT_STATUSES,
)
from crm.contacts import sources as contact_sources
from crm.contacts.forms import valid_email
from crm.core.money import parse_money
from crm.core.types import utcnow
from crm.i18n.forms import LANGUAGE_CHOICES
from crm.memberships.models import STATUSES, status_name

ANY = SelectChoice("", "Any")
OFFLINE_METHODS = [SelectChoice(method, label) for method, label in OFFLINE_PAYMENT_METHODS.items()]
YES_NO = [ANY, SelectChoice("yes", "Yes"), SelectChoice("no", "No")]
MEMBER_SORTS = [
    SelectChoice("name", "Name"),
    SelectChoice("-joined", "Joined (newest first)"),
    SelectChoice("joined", "Joined (oldest first)"),
    SelectChoice("paid_through", "Paid through (soonest first)"),
    SelectChoice("-paid_through", "Paid through (latest first)"),
    SelectChoice("number", "Membership number"),
]


class FilterForm(FlaskForm):
    """A GET form: filters live in the address so a page can be bookmarked and exported."""

    class Meta:
        csrf = False


class MemberFilterForm(FilterForm):
    q = StringField("Search", validators=[Optional(), Length(max=100)])
    status = SelectField(
        "Status",
        choices=[ANY, SelectChoice("none", "Not a member")]
        + [SelectChoice(code, status_name(code)) for code in STATUSES],
        validators=[Optional()],
    )
    plan = SelectField("Plan", choices=[ANY], validators=[Optional()])
    joined_from = DateField("Joined from", validators=[Optional()])
    joined_to = DateField("Joined to", validators=[Optional()])
    gift_aid = SelectField("Gift Aid declared", choices=YES_NO, validators=[Optional()])
    consent = SelectField("Email consent", choices=YES_NO, validators=[Optional()])
    #: The real channels; member_filters_from_request adds demo or seed data where contacts have it.
    source = SelectField("Came to us through", choices=[ANY] + [SelectChoice(s, contact_sources.LABELS[s])
                                                                for s in contact_sources.CHANNELS],
                         validators=[Optional()])  # fmt: skip
    sort = SelectField("Sort by", choices=MEMBER_SORTS, default="name", validators=[Optional()])


class PaymentFilterForm(FilterForm):
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])
    # default "" ("Any"): a first visit, with no filters in the address, is not an error.
    method = SelectField(
        "Method",
        choices=[ANY] + [SelectChoice(m, PAYMENT_METHOD_WORDS[m]) for m in PAYMENT_METHODS],
        default="",
    )
    status = SelectField(
        "Status",
        choices=[ANY] + [SelectChoice(s, PAYMENT_STATUS_WORDS[s]) for s in PAYMENT_STATUSES],
        default="",
    )
    kind = SelectField(
        "Kind",
        choices=[ANY, *(SelectChoice(k, words) for k, words in PAYMENT_KIND_WORDS.items())],
        default="",
    )


class AuditFilterForm(FilterForm):
    action = StringField("Action", validators=[Optional(), Length(max=80)])
    actor = StringField("Actor", validators=[Optional(), Length(max=254)])
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])


def _not_future(form: FlaskForm, field: DateField) -> None:
    if field.data and field.data > utcnow().date():
        raise ValidationError("The date cannot be in the future.")


def _in_future(form: FlaskForm, field: DateField) -> None:
    if field.data and field.data <= utcnow().date():
        raise ValidationError("Choose a date after today.")


class MoneyField(StringField):
    """Pounds and pence typed by a person; `.minor` holds the amount in pence once valid."""

    minor: int | None = None

    def pre_validate(self, form: FlaskForm) -> None:
        self.minor = None
        if not (self.data or "").strip():
            return
        self.minor = parse_money(self.data)
        if self.minor is None:
            raise ValidationError("Enter an amount in pounds, like 36 or 36.50.")
        if self.minor <= 0:
            raise ValidationError("The amount must be more than £0.")


class ContactDetailsForm(FlaskForm):
    version = HiddenField()
    title = StringField("Title", validators=[Optional(), Length(max=40)])
    first_name = StringField("First name", validators=[DataRequired("Enter a first name."), Length(max=100)])
    last_name = StringField("Last name", validators=[Optional(), Length(max=100)])
    email = StringField(
        "Email",
        validators=[
            DataRequired("Enter an email address."),
            Length(max=254),
            valid_email,
        ],
    )
    address_line1 = StringField("Address line 1", validators=[Optional(), Length(max=200)])
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=200)])
    town = StringField("Town or city", validators=[Optional(), Length(max=100)])
    postcode = StringField("Postcode", validators=[Optional(), Length(max=20)])
    country = StringField(
        "Country code", default="GB", validators=[DataRequired("Enter a country code."), Length(min=2, max=2)]
    )
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    preferred_language = SelectField("Language of their emails", choices=LANGUAGE_CHOICES, default="en")
    email_consent = BooleanField("Agrees to email updates")

    def validate_version(self, field: HiddenField) -> None:
        if not str(field.data or "").isdigit():
            raise ValidationError("Reload the page and try again.")


class NoteForm(FlaskForm):
    body = TextAreaField("Note", validators=[DataRequired("Write the note."), Length(max=5000)])


class OfflinePaymentForm(FlaskForm):
    plan = SelectField("Plan", coerce=int)
    amount = MoneyField("Amount (£)", validators=[InputRequired("Enter the amount received.")])
    method = RadioField(
        "Method", choices=OFFLINE_METHODS, validators=[InputRequired("Choose how they paid.")]
    )
    paid_on = DateField(
        "Date received", validators=[InputRequired("Enter the date the payment was received."), _not_future]
    )
    reference = StringField(
        "Reference (cheque number, bank reference)", validators=[Optional(), Length(max=100)]
    )


class ComplimentaryForm(FlaskForm):
    plan = SelectField("Plan", coerce=int)
    until = DateField("Until (leave empty for no end date)", validators=[Optional(), _in_future])


class ChangePlanForm(FlaskForm):
    plan = SelectField("New plan", coerce=int)


class ExtendForm(FlaskForm):
    until = DateField("Extend to", validators=[InputRequired("Enter the new paid-through date."), _in_future])


class CancelForm(FlaskForm):
    when = RadioField(
        "When",
        choices=[SelectChoice("period_end", "At the end of the paid period"), SelectChoice("now", "Now")],
        validators=[InputRequired("Choose when the membership ends.")],
    )
    reason = StringField("Reason", validators=[Optional(), Length(max=200)])


class SuspendForm(FlaskForm):
    reason = StringField(
        "Reason", validators=[DataRequired("Give the reason for the suspension."), Length(max=200)]
    )


class UnsuspendForm(FlaskForm):
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=200)])


class RefundForm(FlaskForm):
    amount = MoneyField("Amount to refund (£; leave empty for the full amount left)", validators=[Optional()])
    reason = StringField("Reason", validators=[Optional(), Length(max=200)])
    cancel_membership = BooleanField("A full refund also cancels the membership")


class MergeForm(FlaskForm):
    other = StringField(
        "The duplicate's contact id or membership number",
        validators=[DataRequired("Enter the duplicate contact's id or membership number."), Length(max=40)],
    )
    confirm = BooleanField(
        "I have checked: the duplicate's records move here and the duplicate is removed",
        validators=[DataRequired("Tick the box to confirm the merge.")],
    )


class ConfirmForm(FlaskForm):
    confirm = BooleanField("I confirm", validators=[DataRequired("Tick the box to confirm.")])


class EmptyForm(FlaskForm):
    """A button that only needs its CSRF token."""


#: The action forms on a member's page, by key; the key is also the form's field prefix.
ACTION_FORMS: dict[str, type[FlaskForm]] = {
    "note": NoteForm,
    "offline": OfflinePaymentForm,
    "comp": ComplimentaryForm,
    "change": ChangePlanForm,
    "extend": ExtendForm,
    "cancel": CancelForm,
    "suspend": SuspendForm,
    "unsuspend": UnsuspendForm,
    "merge": MergeForm,
    "erase": ConfirmForm,
    "welcome": EmptyForm,
}
