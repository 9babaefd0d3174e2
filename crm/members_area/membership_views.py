"""The member's own membership: card and auto-renewal (Stripe Customer Portal), renewing and Gift Aid."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm.contacts.gift_aid import gift_aid_wording
from crm.core.features import requires_gift_aid
from crm.extensions import db
from crm.i18n import current_language
from crm.i18n.formatting import format_date
from crm.members_area import gift_aid as member_gift_aid
from crm.members_area import services
from crm.members_area.forms import CancelDeclarationForm, ConfirmForm, GiftAidForm
from crm.members_area.routes import bp, own_contact
from crm.memberships.models import MembershipStatus


@bp.post("/billing-portal")
@login_required
def billing_portal():
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        url = services.portal_url(own_contact())
    except services.AccountActionError as error:
        flash(error.user_message, "error")
        return redirect(url_for(".account"))
    return redirect(url, code=303)


def _membership_for_auto_renew():
    card = services.membership_card(own_contact())
    if card.membership is None or not card.membership.plan.recurring or card.paid_by is not None:
        abort(404)  # the second adult of a joint membership: the payer looks after renewing
    return card


@bp.route("/auto-renew/cancel", methods=["GET", "POST"])
@login_required
def cancel_auto_renew():
    card = _membership_for_auto_renew()
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        if not card.can_cancel_auto_renew:
            flash(_("Auto-renewal is already off."), "info")
            return redirect(url_for(".account"))
        return render_template("members_area/cancel_auto_renew.html", card=card, form=form)
    return _set_auto_renew(card, False)


@bp.post("/auto-renew/resume")
@login_required
def resume_auto_renew():
    card = _membership_for_auto_renew()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not card.can_resume_auto_renew and not (card.membership and card.membership.auto_renew):
        flash(_("Auto-renewal cannot be turned back on for this membership. You can renew instead."), "error")
        return redirect(url_for(".account"))
    return _set_auto_renew(card, True)


def _set_auto_renew(card: services.MembershipCard, on: bool):
    membership = card.membership
    assert membership is not None  # noqa: S101  (checked by the caller)
    try:
        changed = services.set_auto_renew(membership, on, actor=current_user)
        db.session.commit()
    except services.AccountActionError as error:
        db.session.rollback()
        flash(error.user_message, "error")
        return redirect(url_for(".account"))
    if changed and on:
        flash(_("Auto-renewal is back on. Your membership will renew automatically."), "success")
    elif changed and membership.status == MembershipStatus.GRACE:
        ends = services.access_ends_on(membership)
        flash(
            _(
                "Auto-renewal is cancelled. You keep members' access until %(date)s, the end of your "
                "grace period; we have emailed you a confirmation.",
                date=format_date(ends) if ends else "",
            ),
            "success",
        )
    elif changed:
        flash(
            _(
                "Auto-renewal is cancelled. Your membership continues until the end of the period you "
                "have paid for; we have emailed you a confirmation."
            ),
            "success",
        )
    return redirect(url_for(".account"))


@bp.get("/renew")
@login_required
def renew():
    """Renew or rejoin: the join form with the member's previous plan chosen (when still offered)."""
    card = services.membership_card(own_contact())
    plan = card.membership.plan if card.membership else None
    if plan is not None and plan.active:
        return redirect(f"/join?plan={plan.slug}")
    return redirect("/join")


@bp.post("/renew/pay")
@login_required
def renew_now():
    """Pay the next period of a fixed-term (or grace) membership through Stripe Checkout."""
    from crm.billing.stripe_gateway import GatewayError, ensure_customer
    from crm.join.services import (
        can_renew_now,
        ensure_plan_price,
        not_charged_message,
        start_renewal_checkout,
    )

    form = ConfirmForm()
    membership = services.membership_card(own_contact()).membership
    if not form.validate_on_submit() or not can_renew_now(membership):
        flash(_("Your membership cannot be renewed online just now. Please contact us."), "error")
        return redirect(url_for(".account"))
    try:
        # Stripe is never called inside a database transaction (a hanging Stripe would hold the
        # write lock and stall every sign-in): each call's answer is committed before the next.
        db.session.commit()
        ensure_plan_price(membership.plan)
        db.session.commit()
        ensure_customer(membership.contact)
        db.session.commit()
        checkout = start_renewal_checkout(membership)
    except GatewayError as error:
        db.session.rollback()
        flash(not_charged_message(error), "error")
        return redirect(url_for(".account"))
    db.session.commit()
    return redirect(checkout.url, code=303)


@bp.route("/gift-aid", methods=["GET", "POST"])
@requires_gift_aid
@login_required
def gift_aid():
    contact = own_contact()
    language = current_language()
    wording = gift_aid_wording(current_app.config["ORG_NAME"], language)
    form = GiftAidForm()
    if request.method == "GET":
        form.postcode.data = contact.postcode
        first_word = (contact.address_line1 or "").split(" ")[0]
        form.house.data = first_word if any(ch.isdigit() for ch in first_word) else contact.address_line1
    elif form.validate_on_submit():
        member_gift_aid.declare_gift_aid(
            contact,
            house=form.house.data,
            postcode=form.postcode.data,
            wording=wording,
            language=language,
            actor=current_user,
        )
        db.session.commit()
        flash(_("Thank you: your Gift Aid declaration is recorded."), "success")
        return redirect(url_for(".gift_aid"))
    status = 400 if form.errors else 200
    return render_template(
        "members_area/gift_aid.html",
        form=form,
        cancel_form=CancelDeclarationForm(formdata=None),
        wording=wording,
        declaration=member_gift_aid.active_declaration(contact.id),
        declarations=member_gift_aid.declarations_for(contact.id),
    ), status


@bp.post("/gift-aid/cancel")
@requires_gift_aid
@login_required
def cancel_gift_aid():
    form = CancelDeclarationForm()
    if not form.validate_on_submit():
        abort(400)
    if not member_gift_aid.cancel_gift_aid(own_contact(), form.declaration_id.data, actor=current_user):
        abort(404)
    db.session.commit()
    flash(
        _("Your Gift Aid declaration is cancelled. We will not claim Gift Aid on future payments."), "success"
    )
    return redirect(url_for(".gift_aid"))
