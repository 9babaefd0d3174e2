"""The join, donate and subscribe forms. Every field is checked on the server."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.contacts import consent
from crm.contacts.services import EmailAddressError, normalise_email
from crm.core.features import gift_aid_enabled
from crm.core.money import parse_money
from crm.i18n import current_language
from crm.i18n.content import localised
from crm.i18n.formatting import format_money
from crm.i18n.forms import LANGUAGE_CHOICES
from crm.join.choices import COUNTRIES, TITLES
from crm.join.email_typos import suggest_email
from crm.join.partner import PartnerFields

_UK_POSTCODE = re.compile(r"^(GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})$")
_PHONE = re.compile(r"^\+?[\d\s().-]{6,25}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def email_updates_wording(org: str) -> str:
    """The email "news and updates" sentence (crm.contacts.consent owns every consent wording)."""
    return consent.wording("news", org)


def normalise_uk_postcode(value: str) -> str | None:
    """'n19gu' -> 'N1 9GU'; None when it is not a UK postcode."""
    compact = re.sub(r"\s+", "", value or "").upper()
    if not _UK_POSTCODE.match(compact):
        return None
    return f"{compact[:-3]} {compact[-3:]}"


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class _NoControlCharacters:
    def __call__(self, form: FlaskForm, field: Any) -> None:
        if field.data and _CONTROL.search(field.data):
            raise ValidationError(gettext("Remove the special characters from this field."))


def _check_email(field: Any) -> None:
    try:
        field.data = normalise_email(field.data)
    except EmailAddressError as error:
        raise ValidationError(str(error)) from error


def _text(label: Any, max_length: int, *, too_long: Any, required: Any = None) -> StringField:
    """A trimmed text field without control characters; `too_long` is the message past
    `max_length` (WTForms fills in `%(max)d`), `required` the message when it is left empty
    (optional when None)."""
    too_long = Length(max=max_length, message=too_long)
    validators = [DataRequired(required)] if required else []
    return StringField(label, filters=[_strip], validators=[*validators, too_long, _NoControlCharacters()])


def _first_name() -> StringField:
    return _text(
        _l("First name"),
        100,
        too_long=_l("First name must be %(max)d characters or fewer."),
        required=_l("Enter your first name."),
    )


def _email() -> StringField:
    return StringField(_l("Email address"), filters=[_strip])


class _PersonFields(FlaskForm):
    """Who is joining or giving: shared by the join and donate forms."""

    first_name = _first_name()
    last_name = _text(
        _l("Last name"),
        100,
        too_long=_l("Last name must be %(max)d characters or fewer."),
        required=_l("Enter your last name."),
    )
    email = _email()
    email_updates = BooleanField(_l("Yes, send me news and updates by email"), default=False)
    email_appeals = BooleanField(_l("Yes, send me fundraising appeals by email"), default=False)
    #: The address a "did you mean" was shown for: sending it again keeps it.
    email_checked = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each box's label is the consent wording itself (what is recorded when it is ticked).
        org = current_app.config["ORG_NAME"]
        self.email_updates.label.text = email_updates_wording(org)
        self.email_appeals.label.text = consent.wording("appeals", org)

    def validate_email(self, field: Any) -> None:
        _check_email(field)
        suggestion = suggest_email(field.data)
        if suggestion and self.email_checked.data != field.data:
            self.email_checked.data = field.data
            raise ValidationError(
                gettext(
                    "Did you mean %(suggestion)s? Correct it, or send the form again to keep %(email)s.",
                    suggestion=suggestion,
                    email=field.data,
                )
            )


class _AddressFields(_PersonFields):
    """A full postal address (the join form); the donate form asks only what Gift Aid needs."""

    title = SelectField(
        _l("Title (optional)"), choices=[SelectChoice(t, t or _l("Choose")) for t in TITLES], default=""
    )
    address_line1 = _text(
        _l("Address line 1"),
        200,
        too_long=_l("Address line 1 must be %(max)d characters or fewer."),
        required=_l("Enter the first line of your address."),
    )
    address_line2 = _text(
        _l("Address line 2 (optional)"),
        200,
        too_long=_l("Address line 2 must be %(max)d characters or fewer."),
    )
    town = _text(
        _l("Town or city"),
        100,
        too_long=_l("Town or city must be %(max)d characters or fewer."),
        required=_l("Enter your town or city."),
    )
    postcode = _text(
        _l("Postcode"),
        20,
        too_long=_l("Postcode must be %(max)d characters or fewer."),
        required=_l("Enter your postcode."),
    )
    country = SelectField(_l("Country"), choices=COUNTRIES, default="GB")
    #: The page's language unless they choose another: every email to them is written in it.
    preferred_language = SelectField(
        _l("Language for our emails"), choices=LANGUAGE_CHOICES, default=current_language
    )
    phone = StringField(
        _l("Phone (optional)"),
        filters=[_strip],
        validators=[Optional(), Length(max=40, message=_l("Phone must be %(max)d characters or fewer."))],
    )

    def validate_phone(self, field: Any) -> None:
        if field.data and not _PHONE.match(field.data):
            raise ValidationError(gettext("Enter a phone number using digits, spaces and + only."))

    def validate_postcode(self, field: Any) -> None:
        if self.country.data == "GB" and field.data:
            normalised = normalise_uk_postcode(field.data)
            if normalised is None:
                raise ValidationError(gettext("Enter a UK postcode like N1 9GU."))
            field.data = normalised


def _donation_field(label: Any, required: bool) -> StringField:
    return StringField(label, filters=[_strip], validators=[] if required else [Optional()])


def _check_amount(field: Any, *, required: bool) -> int:
    raw = field.data or ""
    if not raw:
        if required:
            raise ValidationError(gettext("Enter how much you would like to give."))
        return 0
    amount = parse_money(raw)
    low, high = int(current_app.config["DONATION_MIN"]), int(current_app.config["DONATION_MAX"])
    if amount is None:
        raise ValidationError(gettext("Enter an amount in pounds, like 10 or 10.50."))
    if amount < low or amount > high:
        raise ValidationError(
            gettext(
                "Enter an amount between %(low)s and %(high)s.",
                low=format_money(low),
                high=format_money(high),
            )
        )
    return amount


#: The suggested amounts (pounds) on the donate page and at join; "other" opens the amount field.
PRESET_AMOUNTS = ("10", "25", "50")


def _preset_choice(pounds: str) -> SelectChoice:
    """A suggested amount written the way the page's language writes money: "£10" / "10 £"."""
    return SelectChoice(pounds, _l("£%(amount)s", amount=pounds))


FREQUENCIES = (
    SelectChoice("once", _l("Once")),
    SelectChoice("month", _l("Every month")),
    SelectChoice("year", _l("Every year")),
)


class JoinForm(_AddressFields, PartnerFields):
    plan = RadioField(_l("Membership plan"), coerce=str, validate_choice=False)
    donation_preset = RadioField(
        _l("Extra donation (optional)"),
        choices=[SelectChoice("", _l("No extra donation")), *(_preset_choice(p) for p in PRESET_AMOUNTS),
                 SelectChoice("other", _l("Other amount"))],
        default="",
        validate_choice=False,
    )  # fmt: skip
    # No Optional(): the check below runs when the field is empty too (a preset fills the amount).
    donation = _donation_field(_l("Other amount (£)"), required=True)
    donation_frequency = RadioField(
        _l("How often"), choices=list(FREQUENCIES), default="once", validate_choice=False
    )
    gift_aid = BooleanField(_l("Yes, I want to Gift Aid my payments"), default=False)

    def __init__(self, *args: Any, plans: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plans = {str(p.id): p for p in plans}
        self.plan.choices = [SelectChoice(str(p.id), localised(p, "name")) for p in plans]
        self.donation_amount = 0
        if not gift_aid_enabled():
            self.gift_aid.data = False  # the question is not asked, whatever a request sends

    @property
    def chosen_plan(self) -> Any:
        return self.plans.get(self.plan.data or "")

    def validate_plan(self, field: Any) -> None:
        if not field.data:
            raise ValidationError(gettext("Choose a membership plan."))
        if field.data not in self.plans:
            raise ValidationError(gettext("Choose one of the plans shown."))

    def validate_donation(self, field: Any) -> None:
        preset = self.donation_preset.data or ""
        if preset in PRESET_AMOUNTS:
            self.donation_amount = int(preset) * 100
        elif preset in ("", "other"):
            self.donation_amount = _check_amount(field, required=preset == "other")
        else:
            raise ValidationError(gettext("Choose one of the amounts shown, or enter another amount."))

    def validate_donation_frequency(self, field: Any) -> None:
        if (field.data or "once") not in ("once", "month", "year"):
            raise ValidationError(gettext("Choose how often you would like to give."))

    @property
    def regular_gift(self) -> str | None:
        """ "month" or "year" when the donation is a regular gift (its own subscription after joining)."""
        frequency = self.donation_frequency.data or "once"
        return frequency if self.donation_amount and frequency != "once" else None

    def validate_gift_aid(self, field: Any) -> None:
        if not field.data:
            return
        plan = self.chosen_plan
        eligible = (plan is not None and plan.gift_aid_eligible) or bool(
            self.donation.data or self.donation_preset.data
        )
        if not eligible:
            raise ValidationError(gettext("Gift Aid cannot be claimed on this plan without a donation."))
        if self.country.data != "GB" or normalise_uk_postcode(self.postcode.data or "") is None:
            raise ValidationError(gettext("Gift Aid needs a UK home address with a UK postcode."))


class DonateForm(_PersonFields):
    frequency = RadioField(_l("How often"), choices=list(FREQUENCIES), default="once", validate_choice=False)
    preset = RadioField(
        _l("Amount"),
        choices=[
            *(_preset_choice(p) for p in PRESET_AMOUNTS),
            SelectChoice("other", _l("Other amount")),
        ],
        default="other",
        validate_choice=False,
    )
    amount = _donation_field(_l("Other amount (£)"), required=True)  # checked against the preset below
    cover_fee = BooleanField(_l("Add a little to cover the card fee"), default=False)
    gift_aid = BooleanField(_l("Yes, I want to Gift Aid my payments"), default=False)
    address_line1 = _text(
        _l("House name or number and street (needed for Gift Aid)"),
        200,
        too_long=_l("The address must be %(max)d characters or fewer."),
    )
    postcode = _text(
        _l("Postcode (needed for Gift Aid)"), 20, too_long=_l("Postcode must be %(max)d characters or fewer.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.amount_minor = 0
        if not gift_aid_enabled():
            self.gift_aid.data = False  # the question is not asked, whatever a request sends

    def validate_frequency(self, field: Any) -> None:
        if field.data not in ("once", "month", "year"):
            raise ValidationError(gettext("Choose how often you would like to give."))

    def validate_amount(self, field: Any) -> None:
        preset = self.preset.data or "other"
        if preset in PRESET_AMOUNTS:
            self.amount_minor = int(preset) * 100
            return
        if preset != "other":
            raise ValidationError(gettext("Choose one of the amounts shown, or enter another amount."))
        self.amount_minor = _check_amount(field, required=True)

    def validate_postcode(self, field: Any) -> None:
        if field.data:
            normalised = normalise_uk_postcode(field.data)
            if normalised is None and self.gift_aid.data:
                raise ValidationError(gettext("Enter a UK postcode like N1 9GU."))
            field.data = normalised or field.data
        elif self.gift_aid.data:
            raise ValidationError(gettext("Enter your UK postcode so that we can claim Gift Aid."))

    def validate_address_line1(self, field: Any) -> None:
        if self.gift_aid.data and not field.data:
            raise ValidationError(
                gettext("Enter your house name or number and street so that we can claim Gift Aid.")
            )


class SubscribeForm(FlaskForm):
    first_name = _first_name()
    last_name = _text(
        _l("Last name (optional)"), 100, too_long=_l("Last name must be %(max)d characters or fewer.")
    )
    email = _email()
    #: Optional: lets staff tell people about events and campaigns near them (audiences by postcode area).
    postcode = _text(
        _l("Postcode (optional, for news of events near you)"),
        20,
        too_long=_l("Postcode must be %(max)d characters or fewer."),
    )
    #: Per purpose, unticked by default; at least one is needed (else there is nothing to sign up to).
    consent = BooleanField(_l("News and updates"), default=False)
    appeals = BooleanField(_l("Fundraising appeals"), default=False)

    def validate_email(self, field: Any) -> None:
        _check_email(field)

    def validate_postcode(self, field: Any) -> None:
        if field.data:
            normalised = normalise_uk_postcode(field.data)
            if normalised is None:
                raise ValidationError(gettext("Enter a UK postcode like N1 9GU, or leave it empty."))
            field.data = normalised

    def validate_consent(self, field: Any) -> None:
        if not field.data and not self.appeals.data:
            raise ValidationError(gettext("Tick the box to confirm you want our email updates."))

    def chosen_purposes(self) -> list[str]:
        return [p for p, f in (("news", self.consent), ("appeals", self.appeals)) if f.data]


class ConfirmForm(FlaskForm):
    """The button on the confirmation page: opening the emailed link alone changes nothing."""
