"""The audience builder: a server-rendered form (works without JavaScript) that yields a filter."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from crm.audiences.filters import DATE_KEYS, MEMBERSHIP_CHOICES
from crm.contacts import sources as contact_sources
from crm.contacts.consent import CHANNEL_LABELS, CHANNELS, PURPOSE_LABELS, PURPOSES
from crm.core.money import parse_money


class _Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


#: How a membership status reads in the builder, where its code name would not.
STATUS_LABELS = {"none": "No membership", "direct_debit_pending": "Direct Debit pending"}


class AudienceForm(FlaskForm):
    name = StringField("Name", validators=[Optional(), Length(max=100)])
    status = _Checkboxes("Membership status", choices=[SelectChoice(s, STATUS_LABELS.get(s, s.capitalize()))
                                                        for s in MEMBERSHIP_CHOICES])  # fmt: skip
    plan_ids = _Checkboxes("Plan", coerce=int, choices=[])
    joined_from = DateField("Joined from", validators=[Optional()])
    joined_to = DateField("Joined until", validators=[Optional()])
    lapsed_from = DateField("Membership ended from", validators=[Optional()])
    lapsed_to = DateField("Membership ended until", validators=[Optional()])
    paid_through_from = DateField("Paid through from", validators=[Optional()])
    paid_through_to = DateField("Paid through until", validators=[Optional()])
    donated = SelectField(
        "Donated",
        choices=[
            SelectChoice("", "Any"),
            SelectChoice("ever", "Ever"),
            SelectChoice("period", "Between the dates below"),
        ],
        default="",
    )
    donated_from = DateField("Donated from", validators=[Optional()])
    donated_to = DateField("Donated until", validators=[Optional()])
    donated_min = StringField("At least (£, one donation)", validators=[Optional(), Length(max=12)])
    gift_aid = SelectField(
        "Gift Aid declared",
        choices=[SelectChoice("", "Any"), SelectChoice("yes", "Yes"), SelectChoice("no", "No")],
        default="",
    )
    consent = _Checkboxes("Has consented to", choices=[SelectChoice(f"{c}:{p}", f"{PURPOSE_LABELS[p]} by {CHANNEL_LABELS[c][0].lower() + CHANNEL_LABELS[c][1:]}")
                                                        for c in CHANNELS for p in PURPOSES])  # fmt: skip
    tag_ids = _Checkboxes("Has any of these tags", coerce=int, choices=[])
    postcode_areas = StringField("Postcode areas (e.g. N, E, LS)", validators=[Optional(), Length(max=200)])
    #: The real channels; offer_sources() adds development-only ones where contacts have them.
    sources = _Checkboxes("How they came to us", choices=[SelectChoice(s, contact_sources.LABELS[s])
                                                          for s in contact_sources.CHANNELS])  # fmt: skip

    def offer_sources(self) -> None:
        """The sources to tick: the real channels, then demo or seed data, labelled as such, only
        where some contact has that source (or this filter already picks it)."""
        offered = contact_sources.offered(chosen=self.sources.data or [])
        self.sources.choices = [SelectChoice(s, contact_sources.LABELS[s]) for s in offered]

    def validate_donated_min(self, field: Any) -> None:
        if field.data:
            amount = parse_money(field.data)
            if amount is None:
                raise ValidationError("Enter an amount like 10 or 25.50.")
            self.donated_min_minor = amount

    def conditions(self) -> list[tuple[str, str]]:
        """The filled-in conditions as staff chose them, (label, value) in words, for a saved audience."""
        out = []
        for field in self:
            if field.name in ("name", "csrf_token") or not field.data:
                continue
            if isinstance(field, SelectField | SelectMultipleField):
                value = ", ".join(str(label) for _, label, selected, *_ in field.iter_choices() if selected)
            elif isinstance(field, DateField):
                value = f"{field.data.day} {field.data:%B %Y}"
            else:
                value = str(field.data)
            out.append((str(field.label.text), value))
        return out

    def to_filter(self) -> dict[str, Any]:
        """The filter as JSON for crm.audiences.filters.clean (which checks it again)."""
        out: dict[str, Any] = {
            "status": self.status.data or [], "plan_ids": self.plan_ids.data or [],
            "donated": self.donated.data or "", "gift_aid": self.gift_aid.data or "",
            "consent": self.consent.data or [], "tag_ids": self.tag_ids.data or [], "sources": self.sources.data or [],
            "postcode_areas": [a.strip().upper() for a in (self.postcode_areas.data or "").replace(";", ",").split(",")
                               if a.strip()],
        }  # fmt: skip
        for key in DATE_KEYS:
            for end in ("from", "to"):
                value = self[f"{key}_{end}"].data
                out[f"{key}_{end}"] = value.isoformat() if value else ""
        if self.donated_min.data:
            out["donated_min"] = getattr(self, "donated_min_minor", 0)
        return out

    def fill_from(self, stored: dict[str, Any]) -> None:
        from datetime import date

        for key, value in stored.items():
            if key in self._fields and key not in ("donated_min", "postcode_areas"):
                self[key].data = date.fromisoformat(value) if key.endswith(("_from", "_to")) else value
        if stored.get("postcode_areas"):
            self.postcode_areas.data = ", ".join(stored["postcode_areas"])
        if stored.get("donated_min"):
            self.donated_min.data = f"{stored['donated_min'] / 100:.2f}"


class TagAudienceForm(FlaskForm):
    tag = StringField("Tag everyone in this audience", validators=[Length(max=60)])


class ActionForm(FlaskForm):
    """Only the CSRF token."""
