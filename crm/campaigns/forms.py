"""Campaign forms: compose (editors too), confirm the number and when (staff and admins)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from crm.contacts.consent import PURPOSE_LABELS


class CampaignForm(FlaskForm):
    # Lengths are checked by crm.campaigns.services (one owner), which says what is too long.
    subject = StringField("Subject")
    preheader = StringField("Preheader (the line shown after the subject)")
    purpose = RadioField(
        "This email is",
        choices=[SelectChoice(p, label) for p, label in PURPOSE_LABELS.items()],
        default="news",
    )
    audience_id = SelectField("Audience", coerce=int, choices=[])
    body = TextAreaField("Message (Markdown)")
    post_id = HiddenField()


class ConfirmForm(FlaskForm):
    count_seen = IntegerField(validators=[InputRequired()])
    when = RadioField(
        "When",
        choices=[SelectChoice("now", "Send now"), SelectChoice("later", "At a UK time")],
        default="now",
    )
    send_at = DateTimeLocalField("UK date and time", format="%Y-%m-%dT%H:%M", validators=[Optional()])


class ActionForm(FlaskForm):
    """Only the CSRF token."""
