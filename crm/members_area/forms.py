"""The member's own forms. Only the fields declared here are ever read from a request."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from crm.contacts.forms import valid_email
from crm.join.forms import COUNTRIES

#: A UK postcode (outward and inward parts, space optional), e.g. N1 9GU, SW1A 1AA, GIR 0AA.
UK_POSTCODE = re.compile(r"^(GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})$", re.IGNORECASE)
_PHONE = re.compile(r"^[0-9+()\- .]{6,40}$")

EMAIL_CONSENT_WORDING = _l("Yes, email me news and campaign updates. I can stop them at any time.")
#: The account page's sentence for each (channel, purpose) box, in plain words.
PREFERENCE_WORDING = {
    ("email", "news"): EMAIL_CONSENT_WORDING,
    ("email", "appeals"): _l("Yes, email me fundraising appeals."),
    ("post", "news"): _l("Yes, post me news and campaign updates."),
    ("post", "appeals"): _l("Yes, post me fundraising appeals."),
    ("phone", "news"): _l("Yes, phone me with news and campaign updates."),
    ("phone", "appeals"): _l("Yes, phone me about fundraising appeals."),
    ("sms", "news"): _l("Yes, text me news and campaign updates."),
    ("sms", "appeals"): _l("Yes, text me about fundraising appeals."),
}
#: Form field per (channel, purpose); email news keeps its older name.
PREFERENCE_FIELDS = {pair: "email_updates" if pair == ("email", "news") else f"{pair[0]}_{pair[1]}"
                     for pair in PREFERENCE_WORDING}  # fmt: skip


def normalise_postcode(value: str) -> str:
    """'n19gu' -> 'N1 9GU'."""
    compact = re.sub(r"\s+", "", value or "").upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


def is_uk_postcode(value: str) -> bool:
    return bool(UK_POSTCODE.match(normalise_postcode(value)))


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class ContactDetailsForm(FlaskForm):
    """Name, address, phone and email, validated like the join form."""

    title = StringField(_l("Title (optional)"), filters=[_strip], validators=[Optional(), Length(max=40)])
    first_name = StringField(
        _l("First name"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter your first name.")),
            Length(max=100, message=_l("First name must be 100 characters or fewer.")),
        ],
    )
    last_name = StringField(
        _l("Last name"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter your last name.")),
            Length(max=100, message=_l("Last name must be 100 characters or fewer.")),
        ],
    )
    email = StringField(
        _l("Email address"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter your email address.")),
            Length(max=254, message=_l("Email address must be 254 characters or fewer.")),
            valid_email,
        ],
    )
    address_line1 = StringField(
        _l("Address line 1"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter the first line of your address.")),
            Length(max=200, message=_l("Address line 1 must be 200 characters or fewer.")),
        ],
    )
    address_line2 = StringField(
        _l("Address line 2 (optional)"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=200, message=_l("Address line 2 must be 200 characters or fewer.")),
        ],
    )
    town = StringField(
        _l("Town or city"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter your town or city.")),
            Length(max=100, message=_l("Town or city must be 100 characters or fewer.")),
        ],
    )
    postcode = StringField(
        _l("Postcode"),
        filters=[_strip],
        validators=[Optional(), Length(max=20, message=_l("Postcode must be 20 characters or fewer."))],
    )
    country = SelectField(_l("Country"), choices=COUNTRIES, default="GB")
    phone = StringField(_l("Phone (optional)"), filters=[_strip], validators=[Optional(), Length(max=40)])
    #: The Contact.version the form was rendered from (optimistic locking).
    version = HiddenField()

    def __init__(self, *args: object, gift_aid_declared: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.gift_aid_declared = gift_aid_declared

    def validate_postcode(self, field: StringField) -> None:
        if not field.data:
            if self.gift_aid_declared:
                raise ValidationError(
                    _l("Enter your UK postcode: HMRC needs it for your Gift Aid declaration.")
                )
            return
        if self.gift_aid_declared and not is_uk_postcode(field.data):
            raise ValidationError(_l("Enter a real UK postcode, like N1 9GU."))
        if is_uk_postcode(field.data):
            field.data = normalise_postcode(field.data)

    def validate_phone(self, field: StringField) -> None:
        if field.data and not _PHONE.match(field.data):
            raise ValidationError(_l("Enter a phone number using digits, spaces and + ( ) - only."))

    def validate_version(self, field: HiddenField) -> None:
        try:
            int(field.data)
        except (TypeError, ValueError):
            raise ValidationError(_l("This form is out of date. Please reload the page.")) from None

    def validate_first_name(self, field: StringField) -> None:
        _no_control_characters(field)

    def validate_last_name(self, field: StringField) -> None:
        _no_control_characters(field)


def _no_control_characters(field: StringField) -> None:
    if field.data and any(not ch.isprintable() for ch in field.data):
        raise ValidationError(_l("%(field)s contains characters we cannot store.", field=field.label.text))


class EmailPreferencesForm(FlaskForm):
    """One box per channel and purpose ("My email preferences" shows post, phone and SMS too)."""

    email_updates = BooleanField(EMAIL_CONSENT_WORDING)
    email_appeals = BooleanField(PREFERENCE_WORDING[("email", "appeals")])
    post_news = BooleanField(PREFERENCE_WORDING[("post", "news")])
    post_appeals = BooleanField(PREFERENCE_WORDING[("post", "appeals")])
    phone_news = BooleanField(PREFERENCE_WORDING[("phone", "news")])
    phone_appeals = BooleanField(PREFERENCE_WORDING[("phone", "appeals")])
    sms_news = BooleanField(PREFERENCE_WORDING[("sms", "news")])
    sms_appeals = BooleanField(PREFERENCE_WORDING[("sms", "appeals")])

    def choices(self) -> dict[tuple[str, str], bool]:
        return {pair: bool(self[name].data) for pair, name in PREFERENCE_FIELDS.items()}


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token (cancel auto-renewal, forget me...)."""


class GiftAidForm(FlaskForm):
    confirm = BooleanField(
        _l("I confirm the declaration above"),
        validators=[
            InputRequired(_l("Tick the box to confirm you are a UK taxpayer and agree to the declaration."))
        ],
    )
    house = StringField(
        _l("House name or number"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter your house name or number.")),
            Length(max=200, message=_l("House name or number must be 200 characters or fewer.")),
        ],
    )
    postcode = StringField(
        _l("Postcode"),
        filters=[_strip],
        validators=[InputRequired(_l("Enter your UK postcode.")), Length(max=20)],
    )

    def validate_postcode(self, field: StringField) -> None:
        if not is_uk_postcode(field.data or ""):
            raise ValidationError(_l("Enter a real UK postcode, like N1 9GU."))
        field.data = normalise_postcode(field.data)


class CancelDeclarationForm(FlaskForm):
    declaration_id = IntegerField(validators=[InputRequired()])
