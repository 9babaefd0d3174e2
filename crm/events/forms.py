"""Event, booking, motion and vote forms. Every field is checked on the server."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FieldList,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional

from crm.contacts.forms import valid_email
from crm.core.money import parse_money
from crm.events.models import VoteChannel, VoteChoice
from crm.events.services import MAX_PLACES_PER_BOOKING

#: How many name boxes the booking form shows; blank ones are not booked.
NAME_BOXES = 4


class BookingForm(FlaskForm):
    email = StringField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")),
                                                 valid_email,
                                                 Length(max=254)])  # fmt: skip
    names = FieldList(StringField(_l("Name"), validators=[Optional(), Length(max=200)]), min_entries=NAME_BOXES,
                      max_entries=MAX_PLACES_PER_BOOKING)  # fmt: skip


class ActionForm(FlaskForm):
    """A button-only form (cancel, check in): CSRF only."""


class EventForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired("Enter a title."), Length(max=200)])
    description = TextAreaField("Description (Markdown)", validators=[Optional(), Length(max=20000)])
    title_es = StringField(
        "Title in Spanish", validators=[Optional(), Length(max=200)], render_kw={"lang": "es"}
    )
    description_es = TextAreaField(
        "Description in Spanish", validators=[Optional(), Length(max=20000)], render_kw={"lang": "es"}
    )
    starts_at = DateTimeLocalField("Starts (UK time)", format="%Y-%m-%dT%H:%M",
                                   validators=[DataRequired("Enter when it starts.")])  # fmt: skip
    ends_at = DateTimeLocalField("Ends (UK time)", format="%Y-%m-%dT%H:%M",
                                 validators=[DataRequired("Enter when it ends.")])  # fmt: skip
    place = StringField("Place", validators=[Optional(), Length(max=300)])
    online_link = StringField("Online link (shown only to people booked)",
                              validators=[Optional(), URL(message="Enter a full web address."), Length(max=500)])  # fmt: skip
    capacity = IntegerField("Places (0 for no limit)", default=0, validators=[NumberRange(min=0, max=100000)])
    visibility = SelectField(
        "Who can book", choices=[SelectChoice("public", "Anyone"), SelectChoice("members", "Members only")]
    )
    member_price = StringField("Members' price per place (£, blank for free)", validators=[Optional()])
    other_price = StringField("Others' price per place (£, blank for free)", validators=[Optional()])
    published = BooleanField("Published")

    def price_pence(self, field: StringField) -> int | None:
        """The price in pence, or None (with an error on the field) when it is not an amount."""
        if not (field.data or "").strip():
            return 0
        value = parse_money(field.data)
        if value is None:
            field.errors = [*field.errors, "Enter a price in pounds, like 5 or 7.50."]
            return None
        return value


class MessageForm(FlaskForm):
    subject = StringField("Subject", validators=[DataRequired("Enter a subject."), Length(max=200)])
    body = TextAreaField("Message", validators=[DataRequired("Enter a message."), Length(max=10000)])


class MotionForm(FlaskForm):
    title = StringField(_l("Motion title"), validators=[DataRequired(_l("Enter a title.")), Length(max=200)])
    text = TextAreaField(_l("Motion text (Markdown)"),
                         validators=[DataRequired(_l("Enter the motion.")), Length(max=20000)])  # fmt: skip


class MotionSpanishForm(FlaskForm):
    """Staff: the motion in Spanish (both blank: Spanish readers see the English)."""

    title_es = StringField("Title in Spanish", validators=[Optional(), Length(max=200)])
    text_es = TextAreaField("Text in Spanish (Markdown)", validators=[Optional(), Length(max=20000)])


class VoteForm(FlaskForm):
    choice = RadioField(_l("Your vote"),
                        choices=[SelectChoice(VoteChoice.FOR, _l("For")), SelectChoice(VoteChoice.AGAINST, _l("Against")),
                                 SelectChoice(VoteChoice.ABSTAIN, _l("Abstain"))],
                        validators=[DataRequired(_l("Choose for, against or abstain."))])  # fmt: skip


class VotingWindowForm(FlaskForm):
    opens_at = DateTimeLocalField(
        "Voting opens (UK time)", format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    closes_at = DateTimeLocalField(
        "Voting closes (UK time)", format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    record_date = DateField(
        "Record date (members in good standing on this day may vote)", validators=[DataRequired()]
    )


class StaffVoteForm(FlaskForm):
    member_email = StringField("Member's email", validators=[DataRequired(), Length(max=254)])
    choice = RadioField("Vote", choices=[SelectChoice(VoteChoice.FOR, "For"), SelectChoice(VoteChoice.AGAINST, "Against"),
                                          SelectChoice(VoteChoice.ABSTAIN, "Abstain")],
                        validators=[DataRequired()])  # fmt: skip
    channel = SelectField(
        "How",
        choices=[SelectChoice(VoteChannel.PROXY, "Proxy"), SelectChoice(VoteChannel.IN_ROOM, "In the room")],
    )
