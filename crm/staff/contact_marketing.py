"""Staff: a contact's consents and tags (consent taken on the phone, tags added), and the suppression list."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from crm.audit.services import record
from crm.contacts import consent, tags
from crm.contacts.forms import valid_email
from crm.contacts.models import Contact, Suppression
from crm.core.permissions import requires
from crm.extensions import db
from crm.staff.routes import bp


class PhoneConsentForm(FlaskForm):
    channel = SelectField(
        "Channel", choices=[SelectChoice(c, consent.CHANNEL_LABELS[c]) for c in consent.CHANNELS]
    )
    purpose = SelectField(
        "Purpose", choices=[SelectChoice(p, label) for p, label in consent.PURPOSE_LABELS.items()]
    )
    granted = RadioField(
        "They said",
        choices=[SelectChoice("yes", "Yes"), SelectChoice("no", "No")],
        validators=[InputRequired()],
    )


class TagForm(FlaskForm):
    tag = StringField("Add a tag", validators=[InputRequired(), Length(max=60)])


class SuppressionForm(FlaskForm):
    email = StringField("Email address", validators=[InputRequired(), valid_email, Length(max=254)])
    detail = StringField("Why", validators=[Length(max=500)])


@bp.app_template_global()
def contact_marketing(contact_id: int) -> dict[str, Any]:
    """For the contact page: each channel's consent, the history, tags, and the forms."""
    return {
        "state": consent.current_state(contact_id),
        "history": consent.history(contact_id)[:50],
        "tags": tags.tags_of(contact_id),
        "channels": consent.CHANNEL_LABELS,
        "purposes": consent.PURPOSE_LABELS,
        "consent_form": PhoneConsentForm(),
        "tag_form": TagForm(),
    }


def _contact_or_404(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.erased_at is not None:
        abort(404)
    return contact


@bp.post("/members/<int:contact_id>/consent")
@requires("members.edit")
def member_consent(contact_id: int):
    """Consent given (or withdrawn) on the phone, recorded with the sentence read to them."""
    contact = _contact_or_404(contact_id)
    form = PhoneConsentForm()
    if not form.validate_on_submit():
        flash("Choose the channel, the purpose and what they said.", "error")
        return redirect(url_for("staff.member", contact_id=contact.id))
    channel, purpose = form.channel.data, form.purpose.data
    wording = consent.wording(purpose, current_app.config["ORG_NAME"], channel) + " (read out on the phone)"
    written = consent.record_consent(contact, channel, purpose, form.granted.data == "yes", source="staff_phone",
                                     wording=wording, by=current_user)  # fmt: skip
    db.session.commit()
    flash("Consent recorded." if written else "That was already their choice: nothing changed.", "success")
    return redirect(url_for("staff.member", contact_id=contact.id))


@bp.post("/members/<int:contact_id>/tags")
@requires("members.edit")
def member_tag(contact_id: int):
    contact = _contact_or_404(contact_id)
    form = TagForm()
    if form.validate_on_submit():
        try:
            tag = tags.get_or_create(form.tag.data or "")
        except tags.TagError as error:
            flash(str(error), "error")
        else:
            tags.add_tag(contact.id, tag)
            record("contact.tag", target_type="contact", target_id=contact.id, contact_id=contact.id,
                   after={"tag": tag.name}, actor=current_user)  # fmt: skip
            db.session.commit()
            flash(f"Tagged “{tag.name}”.", "success")
    return redirect(url_for("staff.member", contact_id=contact.id))


@bp.route("/suppressions", methods=["GET", "POST"])
@requires("members.edit")
def suppressions():
    """Addresses that get no marketing email at all: bounces, complaints, and those staff add."""
    form = SuppressionForm()
    if request.method == "POST" and form.validate_on_submit():
        added = consent.suppress(form.email.data, "staff", detail=form.detail.data or "", by=current_user)
        if added is not None:
            record("email.suppress", target_type="suppression", target_id=added.id, detail=added.email,
                   actor=current_user)  # fmt: skip
        db.session.commit()
        flash(
            "Added to the suppression list." if added else "That address is already on the list.", "success"
        )
        return redirect(url_for("staff.suppressions"))
    rows = list(db.session.scalars(select(Suppression).order_by(Suppression.id.desc()).limit(500)))
    return render_template("campaigns/suppressions.html", form=form, rows=rows), 400 if form.errors else 200
