"""The signed-in member's own pages: /account and everything under it.

Every lookup is scoped to the signed-in member's contact; another member's ids answer 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_fresh, login_required
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.routing import BuildError

from crm.accounts.email_change import request_email_change
from crm.contacts import consent
from crm.contacts.models import Contact
from crm.extensions import db, login_manager
from crm.i18n import current_language
from crm.i18n.formatting import format_date
from crm.join.services import can_renew_now, renewal_period
from crm.members_area import gift_aid as member_gift_aid
from crm.members_area import services
from crm.members_area.forms import (
    PREFERENCE_FIELDS,
    PREFERENCE_WORDING,
    ContactDetailsForm,
    EmailPreferencesForm,
)
from crm.memberships import lifecycle
from crm.memberships.models import Membership

bp = Blueprint("members_area", __name__, url_prefix="/account")


def own_contact() -> Contact:
    """The signed-in member's contact: the only contact these pages ever read or change."""
    return current_user.contact


def _renewal_period_text(membership: Membership) -> str:
    """The period "Renew now" pays for, in the page's language."""
    start, end = renewal_period(membership)
    if end is None:
        return _("from %(start)s", start=format_date(start))
    return _("%(start)s to %(end)s", start=format_date(start), end=format_date(end))


def _optional_url(endpoint: str) -> str | None:
    try:
        return url_for(endpoint)
    except BuildError:
        return None


@bp.get("")
@login_required
def account():
    contact = own_contact()
    declarations = member_gift_aid.declarations_for(contact.id)
    payments = services.payments_for(contact.id)
    card = services.membership_card(contact)
    return render_template(
        "members_area/account.html",
        contact=contact,
        card=card,
        payments=payments,
        gift_aid={p.id: member_gift_aid.gift_aid_status(p, declarations) for p in payments},
        declaration=next((d for d in declarations if d.cancelled_at is None), None),
        # Gift Aid rides on payments: the second adult of a joint membership makes none (the
        # payer does) unless they give on their own.
        offer_gift_aid=bool(payments) or not lifecycle.paid_for_by_partner(card.membership),
        change_password_url=_optional_url("accounts.change_password"),
        can_renew_now=can_renew_now(card.membership),
        renewal_period=_renewal_period_text(card.membership) if can_renew_now(card.membership) else "",
        renewal_cancelled=request.args.get("renewal") == "cancelled",
    )


@bp.get("/payments/<int:payment_id>/receipt")
@login_required
def receipt(payment_id: int):
    contact = own_contact()
    payment = services.payment_for(contact.id, payment_id)
    if payment is None:
        abort(404)
    return render_template(
        "members_area/receipt.html",
        contact=contact,
        payment=payment,
        gift_aid_status=member_gift_aid.gift_aid_status(
            payment, member_gift_aid.declarations_for(contact.id)
        ),
    )


@bp.get("/receipts/view/<token>")
def receipt_by_link(token: str):
    """A receipt from the signed link in its email: works without an account (donors have none)."""
    from crm.billing.receipt_links import payment_from_token

    payment = payment_from_token(token)
    contact = db.session.get(Contact, payment.contact_id) if payment is not None else None
    if payment is None or contact is None or contact.erased_at is not None:
        abort(404)
    return (
        render_template(
            "members_area/receipt.html",
            contact=contact,
            payment=payment,
            gift_aid_status=member_gift_aid.gift_aid_status(
                payment, member_gift_aid.declarations_for(contact.id)
            ),
            by_link=True,
        ),
        200,
        {"Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"},
    )


@bp.route("/details", methods=["GET", "POST"])
@login_required
def details():
    contact = own_contact()
    declared = member_gift_aid.active_declaration(contact.id) is not None
    if request.method == "GET":
        form = ContactDetailsForm(obj=contact, gift_aid_declared=declared)
        form.version.data = str(contact.version)
        return render_template("members_area/details.html", form=form)
    form = ContactDetailsForm(gift_aid_declared=declared)
    if not form.validate_on_submit():
        return render_template("members_area/details.html", form=form), 400
    new_email = form.email.data.lower()
    if new_email != contact.email:
        if not login_fresh():
            return _reauthenticate()
        if services.email_in_use(new_email, contact.id):
            form.email.errors = [
                _("That email address belongs to another account. Please use a different one.")
            ]
            return render_template("members_area/details.html", form=form), 400
    return _save_details(contact, form, new_email if new_email != contact.email else None)


def _save_details(contact: Contact, form: ContactDetailsForm, new_email: str | None = None):
    """Save the details; a new email only gets a confirmation link (crm.accounts.email_change)."""
    try:
        changed = services.update_contact_details(
            contact,
            {**form.data, "email": contact.email},
            form_version=int(form.version.data),
            actor=current_user,
        )
        if new_email is not None:
            request_email_change(contact, new_email)
        db.session.commit()
    except services.StaleRecordError as error:
        return _stale(error.user_message)
    except StaleDataError:
        db.session.rollback()
        return _stale(services.StaleRecordError().user_message)
    except IntegrityError:
        db.session.rollback()
        form.email.errors = [_("That email address belongs to another account. Please use a different one.")]
        return render_template("members_area/details.html", form=form), 400
    if new_email is not None:
        if changed:
            sent = _(
                "We have emailed a link to %(email)s: your email changes when you open it. "
                "Your other details have been saved.",
                email=new_email,
            )
        else:
            sent = _(
                "We have emailed a link to %(email)s: your email changes when you open it.", email=new_email
            )
        flash(sent, "success")
        return redirect(url_for(".account"))
    flash(_("Your details have been saved.") if changed else _("Nothing to change."), "success")
    return redirect(url_for(".account"))


def _stale(message: str):
    db.session.rollback()
    contact = own_contact()
    db.session.refresh(contact)
    form = ContactDetailsForm(formdata=None, obj=contact)
    form.version.data = str(contact.version)
    form.form_errors.append(message)
    return render_template("members_area/details.html", form=form, stale=True), 409


def _reauthenticate():
    """Changing the sign-in email needs a fresh sign-in, not a remembered session."""
    if login_manager.refresh_view:
        return login_manager.needs_refresh()
    flash(_("For your security, please sign in again before changing your email address."), "info")
    return redirect(url_for("accounts.login", next=url_for(".details")))


@bp.route("/email-preferences", methods=["GET", "POST"])
@login_required
def email_preferences():
    contact = own_contact()
    state = consent.current_state(contact.id)
    form = EmailPreferencesForm(data={name: state[pair] for pair, name in PREFERENCE_FIELDS.items()})
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("members_area/email_preferences.html", form=form, labels=_labels()), 400
        # The consent record keeps the words the member read, in the language they read them.
        wording = {pair: str(words) for pair, words in PREFERENCE_WORDING.items()}
        changed = services.set_preferences(contact, form.choices(), wording, current_language())
        db.session.commit()
        if changed:
            flash(_("Your preferences are saved."), "success")
        return redirect(url_for(".account"))
    return render_template("members_area/email_preferences.html", form=form, labels=_labels())


def _labels() -> dict[str, str]:
    """The fieldset legends, one per channel, in the page's language."""
    return {
        "email": _("Email"),
        "post": _("Post"),
        "phone": _("Phone calls"),
        "sms": _("Text messages (SMS)"),
    }


# Importing the modules registers their views on `bp`.
from crm.members_area import membership_views, privacy_views  # noqa: E402,F401
