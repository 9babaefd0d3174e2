"""Unsubscribing from email updates with the signed link in every non-transactional email.

No sign-in is needed: the signed token is the credential. Opening the link only shows a button
(mail scanners open links); the button POSTs. Mail clients use the RFC 8058 one-click POST.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_wtf import FlaskForm
from wtforms import SubmitField

from crm.audit.services import record
from crm.contacts.models import Consent, Contact
from crm.core.types import utcnow
from crm.email.services import contact_for_unsubscribe_token
from crm.extensions import csrf, db

bp = Blueprint("email", __name__, url_prefix="/email")


class UnsubscribeForm(FlaskForm):
    submit = SubmitField("Unsubscribe")


def withdraw_email_consent(contact: Contact, source: str) -> bool:
    """Stop email updates for `contact`; returns False when they were already off. Flushes."""
    if not contact.email_consent:
        return False
    now = utcnow()
    contact.email_consent = False
    contact.email_consent_at = now
    contact.email_consent_source = source
    db.session.add(
        Consent(
            contact_id=contact.id,
            kind="email_updates",
            granted=False,
            wording="Unsubscribed from email updates",
            source=source,
            confirmed_at=now,
        )
    )
    record(
        "email.unsubscribe",
        target_type="contact",
        target_id=contact.id,
        contact_id=contact.id,
        before={"email_consent": True},
        after={"email_consent": False},
        detail=source,
        actor_label="unsubscribe link",
    )
    db.session.flush()
    return True


def _contact_or_404(token: str) -> Contact:
    contact = contact_for_unsubscribe_token(token)
    if contact is None or contact.erased_at is not None:
        abort(404)
    return contact


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):  # type: ignore[no-untyped-def]
    contact = _contact_or_404(token)
    form = UnsubscribeForm()
    if form.validate_on_submit():
        withdraw_email_consent(contact, "unsubscribe_link")
        db.session.commit()
        return render_template("email/pages/unsubscribe.html", form=form, done=True)
    return render_template("email/pages/unsubscribe.html", form=form, done=False, contact=contact)


@bp.post("/unsubscribe/<token>/one-click")
@csrf.exempt  # RFC 8058: the mail client POSTs without a form; the signed token is the credential
def unsubscribe_one_click(token: str):  # type: ignore[no-untyped-def]
    contact = _contact_or_404(token)
    if request.form.get("List-Unsubscribe") != "One-Click":
        abort(400)
    withdraw_email_consent(contact, "list_unsubscribe")
    db.session.commit()
    return "", 204
