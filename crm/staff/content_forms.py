"""Forms for the staff content pages: news, public pages, plans, Gift Aid claims and imports."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from crm.core.money import parse_money
from crm.i18n.formatting import local_to_utc
from crm.i18n.forms import LANGUAGE_CHOICES
from crm.memberships.models import INTERVAL_LABELS, INTERVALS

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MESSAGE = "Use lower-case letters, digits and hyphens only, like annual-report-2026"


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class WholeNumberField(IntegerField):
    """An IntegerField whose parse error says what to type."""

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = int(valuelist[0].strip())
        except ValueError as error:
            self.data = None
            raise ValueError("Enter a whole number, like 10") from error


def check_slug(_form: FlaskForm, field: StringField) -> None:
    if field.data and not SLUG_PATTERN.match(field.data):
        raise ValidationError(SLUG_MESSAGE)


class _TranslationFields(FlaskForm):
    """The language the text above is written in, and the same text in the other language."""

    language = SelectField("Written in", choices=LANGUAGE_CHOICES, default="en")
    translated_title = StringField(
        "Title in the other language (optional)",
        filters=[_strip],
        validators=[Length(max=200, message="Keep the title under 200 characters.")],
    )
    translated_body = TextAreaField(
        "Body in the other language",
        validators=[Length(max=100_000, message="Keep the body under 100,000 characters.")],
    )

    def validate_translated_body(self, field: TextAreaField) -> None:
        if (field.data or "").strip() and not (self.translated_title.data or "").strip():
            raise ValidationError("Give the other language's version a title too.")


class PostTranslationForm(_TranslationFields):
    translated_summary = TextAreaField(
        "Summary in the other language",
        filters=[_strip],
        validators=[Length(max=1000, message="Keep the summary under 1,000 characters.")],
    )


class PostForm(PostTranslationForm):
    title = StringField(
        "Title",
        filters=[_strip],
        validators=[
            DataRequired("Enter a title."),
            Length(max=200, message="Keep the title under 200 characters."),
        ],
    )
    slug = StringField(
        "Web address (slug)",
        filters=[_strip, lambda v: v.lower() if isinstance(v, str) else v],
        validators=[Optional(), Length(max=200, message="Keep the slug under 200 characters."), check_slug],
    )
    summary = TextAreaField(
        "Summary",
        filters=[_strip],
        validators=[Length(max=1000, message="Keep the summary under 1,000 characters.")],
    )
    body = TextAreaField(
        "Body",
        validators=[
            DataRequired("Write the body of the post."),
            Length(max=100_000, message="Keep the body under 100,000 characters."),
        ],
    )
    visibility = RadioField(
        "Who can read it",
        choices=[SelectChoice("public", "Everyone (public)"), SelectChoice("members", "Members only")],
        default="public",
        validators=[InputRequired("Choose who can read it.")],
    )


class ScheduleForm(FlaskForm):
    publish_date = DateField(
        "Publish on (date)", validators=[InputRequired("Enter the date to publish on, like 1 June 2026.")]
    )
    publish_time = StringField(
        "At (UK time, 24-hour)", default="09:00", filters=[_strip], validators=[DataRequired("Enter a time.")]
    )

    def validate_publish_time(self, field: StringField) -> None:
        match = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)$", field.data or "")
        if not match:
            raise ValidationError("Enter a time like 09:00 or 17:30.")

    def when(self) -> datetime:
        """The moment typed, on the organisation's clock (`TIMEZONE`), as UTC to store."""
        hours, minutes = (int(p) for p in self.publish_time.data.split(":"))
        day: date = self.publish_date.data
        return local_to_utc(datetime.combine(day, time(hours, minutes)))


class ActionForm(FlaskForm):
    """A button that POSTs (publish, unpublish, email, retire): only the CSRF token."""


class PageForm(_TranslationFields):
    title = StringField(
        "Title",
        filters=[_strip],
        validators=[
            DataRequired("Enter a title."),
            Length(max=200, message="Keep the title under 200 characters."),
        ],
    )
    slug = StringField(
        "Web address (slug)",
        filters=[_strip, lambda v: v.lower() if isinstance(v, str) else v],
        validators=[
            DataRequired("Enter a slug."),
            Length(max=100, message="Keep the slug under 100 characters."),
            check_slug,
        ],
    )
    body = TextAreaField(
        "Body", validators=[Length(max=100_000, message="Keep the body under 100,000 characters.")]
    )
    show_in_nav = BooleanField("Show in the site navigation")
    nav_order = WholeNumberField(
        "Position in the navigation",
        default=0,
        validators=[
            InputRequired("Enter a number, like 10."),
            NumberRange(0, 1000, "Enter a number from 0 to 1000."),
        ],
    )


class PlanForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[_strip],
        validators=[
            DataRequired("Enter a name."),
            Length(max=120, message="Keep the name under 120 characters."),
        ],
    )
    slug = StringField(
        "Slug",
        filters=[_strip, lambda v: v.lower() if isinstance(v, str) else v],
        validators=[
            DataRequired("Enter a slug."),
            Length(max=60, message="Keep the slug under 60 characters."),
            check_slug,
        ],
    )
    description = TextAreaField(
        "Description",
        filters=[_strip],
        validators=[Length(max=2000, message="Keep it under 2,000 characters.")],
    )
    name_es = StringField(
        "Name in Spanish (optional)",
        filters=[_strip],
        validators=[Length(max=120, message="Keep the name under 120 characters.")],
    )
    description_es = TextAreaField(
        "Description in Spanish (optional)",
        filters=[_strip],
        validators=[Length(max=2000, message="Keep it under 2,000 characters.")],
    )
    amount = StringField(
        "Amount in pounds", filters=[_strip], validators=[DataRequired("Enter an amount, like 36.00.")]
    )
    interval = SelectField(
        "Billing interval",
        choices=[SelectChoice(i, INTERVAL_LABELS[i]) for i in INTERVALS],
        validators=[InputRequired("Choose an interval.")],
    )
    gift_aid_eligible = BooleanField("Eligible for Gift Aid")
    joint = BooleanField("Joint: two adults at one address (the join form asks for the second adult)")
    grace_days = WholeNumberField(
        "Grace days (blank: the default)",
        validators=[Optional(), NumberRange(0, 365, "Enter a number of days from 0 to 365.")],
    )
    display_order = WholeNumberField(
        "Display order",
        default=0,
        validators=[
            InputRequired("Enter a number, like 10."),
            NumberRange(0, 1000, "Enter a number from 0 to 1000."),
        ],
    )
    active = BooleanField("Offered on the join page", default=True)

    def validate_amount(self, field: StringField) -> None:
        pence = parse_money(field.data)
        if pence is None:
            raise ValidationError("Enter an amount in pounds, like 36 or 3.50.")
        if pence < 100:
            raise ValidationError("The amount must be at least £1.00.")

    @property
    def amount_pence(self) -> int:
        return parse_money(self.amount.data) or 0


class GiftAidRangeForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter; the claim itself is a separate POST with CSRF

    date_from = DateField("From", validators=[InputRequired("Enter the first date, like 6 April 2026.")])
    date_to = DateField(
        "To (inclusive)", validators=[InputRequired("Enter the last date, like 5 April 2027.")]
    )

    def validate_date_to(self, field: DateField) -> None:
        if self.date_from.data and field.data and field.data < self.date_from.data:
            raise ValidationError("The end date must be on or after the start date.")


class GiftAidClaimForm(FlaskForm):
    date_from = DateField("From", validators=[InputRequired("Missing start date.")])
    date_to = DateField("To", validators=[InputRequired("Missing end date.")])


class ImportUploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to upload.")])


def make_mapping_form(headers: list[str], fields: tuple[str, ...], labels: dict[str, str]) -> type[FlaskForm]:
    """A form with one select per CRM field, offering the CSV's headers (or "not in this file")."""
    choices = [SelectChoice("", "— not in this file —")] + [SelectChoice(h, h) for h in headers]

    class MappingForm(FlaskForm):
        def validate(self, extra_validators=None):
            ok = super().validate(extra_validators)
            seen: dict[str, str] = {}
            for name in fields:
                value = getattr(self, f"map_{name}").data
                if not value:
                    continue
                if value in seen:
                    getattr(self, f"map_{name}").errors.append(
                        f"The column “{value}” is already used for {labels[seen[value]]}"
                    )
                    ok = False
                seen[value] = name
            return ok

        def mapping(self) -> dict[str, str]:
            return {
                name: getattr(self, f"map_{name}").data
                for name in fields
                if getattr(self, f"map_{name}").data
            }

    for name in fields:
        required = DataRequired("Choose the column that holds the email address.")
        validators = [required] if name == "email" else [Optional()]
        setattr(MappingForm, f"map_{name}", SelectField(labels[name], choices=choices, validators=validators))
    return MappingForm
