"""Unsubscribing from email updates with the signed link in every non-transactional email.

No sign-in is needed: the signed token is the credential. Opening the link only shows a button
(mail scanners open links); the button POSTs. Mail clients use the RFC 8058 one-click POST.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import SubmitField

from crm.audit.services import record
from crm.contacts import consent
from crm.contacts.models import Contact
from crm.email.services import read_unsubscribe_token
from crm.extensions import csrf, db

bp = Blueprint("email", __name__, url_prefix="/email")


class UnsubscribeForm(FlaskForm):
    submit = SubmitField("Unsubscribe")


def withdraw_email_consent(
    contact: Contact, source: str, purposes: tuple[str, ...] = consent.PURPOSES
) -> bool:
    """Stop these email purposes for `contact`; returns False when they were already off. Flushes.
    A replayed link or one-click POST finds nothing to change and writes nothing."""
    written = consent.withdraw(
        contact, "email", purposes, source=source, wording="Unsubscribed with the link in an email"
    )
    if not written:
        return False
    record(
        "email.unsubscribe",
        target_type="contact",
        target_id=contact.id,
        contact_id=contact.id,
        before={c.purpose: True for c in written},
        after={c.purpose: False for c in written},
        detail=source,
        actor_label="unsubscribe link",
    )
    db.session.flush()
    return True


def _token_or_404(token: str) -> tuple[Contact, tuple[str, ...]]:
    found = read_unsubscribe_token(token)
    if found is None or found[0].erased_at is not None:
        abort(404)
    return found


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    contact, purposes = _token_or_404(token)
    form = UnsubscribeForm()
    # The same words as the subscribe form's boxes, so their translation is in the catalogue.
    labels = [gettext(consent.PURPOSE_LABELS[p]).lower() for p in purposes]
    if form.validate_on_submit():
        withdraw_email_consent(contact, "unsubscribe_link", purposes)
        db.session.commit()
        return render_template("email/pages/unsubscribe.html", form=form, done=True, labels=labels)
    return render_template(
        "email/pages/unsubscribe.html", form=form, done=False, contact=contact, labels=labels
    )


@bp.post("/unsubscribe/<token>/one-click")
@csrf.exempt  # RFC 8058: the mail client POSTs without a form; the signed token is the credential
def unsubscribe_one_click(token: str):
    contact, purposes = _token_or_404(token)
    if request.form.get("List-Unsubscribe") != "One-Click":
        abort(400)
    withdraw_email_consent(contact, "list_unsubscribe", purposes)
    db.session.commit()
    return "", 204


# The mail provider's bounce and complaint webhook registers its view on `bp`.
from crm.email import provider_webhook  # noqa: E402,F401
