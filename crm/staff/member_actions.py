"""Staff: the actions on one contact's page. Each is a POST form (CSRF) that calls one service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from flask import flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from crm.billing.models import Payment
from crm.contacts.models import Contact
from crm.core.permissions import requires
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.models import Plan
from crm.staff import forms, membership_changes, refund_actions, services
from crm.staff.members import _plan_choices, render_member_page
from crm.staff.routes import bp


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _received_at(day: date) -> datetime:
    """Today means now; an earlier day means midday on it (no time-zone edge moves it a day)."""
    return utcnow() if day == utcnow().date() else datetime.combine(day, time(12, 0), tzinfo=UTC)


def _contact(contact_id: int) -> Contact:
    return db.get_or_404(Contact, contact_id)


def _chosen_plan(form: Any) -> Plan:
    """The plan picked in a validated form (its choices are the active plans)."""
    return db.session.get(Plan, form.plan.data)  # type: ignore[return-value]  # the form only offers existing plans


def _refused(contact_id: int, key: str, form: FlaskForm, message: str, **extra: Any):
    """Roll back and show the page again, with the message on the form that was sent."""
    db.session.rollback()
    form.form_errors.append(message)
    flash(message, "error")
    return render_member_page(contact_id, {key: form, **extra}, 409)


def _run(contact_id: int, key: str, form: FlaskForm, action: Callable[[], Any], success: str, anchor: str):
    """Validate, act, commit once; on a refusal roll back and show the page with the message."""
    if not form.validate():
        return render_member_page(contact_id, {key: form}, 422)
    try:
        action()
    except services.StaffActionError as error:
        return _refused(contact_id, key, form, error.message)
    db.session.commit()
    flash(success, "success")
    return redirect(url_for("staff.member", contact_id=contact_id) + f"#{anchor}")


def _act(contact_id: int, key: str, action: Callable[[Contact, Any], Any], success: str, anchor: str):
    """One action form of the member page (forms.ACTION_FORMS[key], fields prefixed `key-`)."""
    contact = _contact(contact_id)
    form = forms.ACTION_FORMS[key](prefix=key)
    if "plan" in form:
        form.plan.choices = _plan_choices(active_only=True)
    return _run(contact_id, key, form, lambda: action(contact, form), success, anchor)


@bp.route("/members/<int:contact_id>/details", methods=["POST"])
@requires("members.edit")
def member_edit_details(contact_id: int):
    contact = _contact(contact_id)
    form = forms.ContactDetailsForm()
    if not form.validate():
        return render_member_page(contact_id, {"details": form}, 422)
    data = {name: getattr(form, name).data for name in services.CONTACT_FIELDS}
    try:
        services.update_contact_details(contact, data, version=int(form.version.data), actor=current_user)
    except services.StaleRecordError as error:
        db.session.rollback()
        # Show the record as it is now (with its new version), and what was typed, unsaved.
        fresh = forms.ContactDetailsForm(obj=_contact(contact_id), formdata=None)
        fresh.version.data = str(_contact(contact_id).version)
        return _refused(contact_id, "details", fresh, error.message, unsaved=data)
    except services.StaffActionError as error:
        return _refused(contact_id, "details", form, error.message)
    db.session.commit()
    flash("Details saved.", "success")
    return redirect(url_for("staff.member", contact_id=contact_id) + "#details")


@bp.route("/members/<int:contact_id>/notes", methods=["POST"])
@requires("members.edit")
def member_add_note(contact_id: int):
    return _act(
        contact_id,
        "note",
        lambda contact, form: services.add_note(contact, form.body.data, actor=current_user),
        "Note added.",
        "notes",
    )


@bp.route("/members/<int:contact_id>/offline-payment", methods=["POST"])
@requires("members.edit")
def member_offline_payment(contact_id: int):
    return _act(
        contact_id,
        "offline",
        lambda contact, form: membership_changes.record_offline_payment(
            contact,
            _chosen_plan(form),
            amount=form.amount.minor or 0,
            method=form.method.data,
            paid_at=_received_at(form.paid_on.data),
            reference=(form.reference.data or "").strip(),
            actor=current_user,
        ),
        "Payment recorded.",
        "payments",
    )


@bp.route("/members/<int:contact_id>/complimentary", methods=["POST"])
@requires("members.edit")
def member_complimentary(contact_id: int):
    return _act(
        contact_id,
        "comp",
        lambda contact, form: membership_changes.grant_complimentary(
            contact,
            _chosen_plan(form),
            until=_end_of(form.until.data) if form.until.data else None,
            actor=current_user,
        ),
        "Complimentary membership given.",
        "memberships",
    )


@bp.route("/members/<int:contact_id>/plan", methods=["POST"])
@requires("members.edit")
def member_change_plan(contact_id: int):
    return _act(
        contact_id,
        "change",
        lambda contact, form: membership_changes.change_plan(contact, _chosen_plan(form), actor=current_user),
        "Plan changed.",
        "memberships",
    )


@bp.route("/members/<int:contact_id>/extend", methods=["POST"])
@requires("members.edit")
def member_extend(contact_id: int):
    return _act(
        contact_id,
        "extend",
        lambda contact, form: membership_changes.extend_membership(
            contact, until=_end_of(form.until.data), actor=current_user
        ),
        "Membership extended.",
        "memberships",
    )


@bp.route("/members/<int:contact_id>/cancel", methods=["POST"])
@requires("members.edit")
def member_cancel(contact_id: int):
    return _act(
        contact_id,
        "cancel",
        lambda contact, form: membership_changes.cancel_membership(
            contact,
            at_period_end=form.when.data == "period_end",
            reason=(form.reason.data or "").strip(),
            actor=current_user,
        ),
        "Membership cancelled.",
        "memberships",
    )


def _suspension(contact_id: int, *, suspended: bool, success: str):
    key = "suspend" if suspended else "unsuspend"
    return _act(
        contact_id,
        key,
        lambda contact, form: membership_changes.change_suspension(
            contact, suspended=suspended, reason=(form.reason.data or "").strip(), actor=current_user
        ),
        success,
        "memberships",
    )


@bp.route("/members/<int:contact_id>/suspend", methods=["POST"])
@requires("members.edit")
def member_suspend(contact_id: int):
    return _suspension(
        contact_id, suspended=True, success="Membership suspended: no members' access until it is lifted."
    )


@bp.route("/members/<int:contact_id>/unsuspend", methods=["POST"])
@requires("members.edit")
def member_unsuspend(contact_id: int):
    return _suspension(contact_id, suspended=False, success="Suspension lifted.")


@bp.route("/members/<int:contact_id>/payments/<int:payment_id>/refund", methods=["POST"])
@requires("refunds")
def member_refund(contact_id: int, payment_id: int):
    payment = db.first_or_404(
        db.select(Payment).where(Payment.id == payment_id, Payment.contact_id == contact_id)
    )
    form = forms.RefundForm(prefix=f"r{payment_id}")
    return _run(
        contact_id,
        f"refund-{payment_id}",
        form,
        lambda: refund_actions.refund_payment(
            payment,
            amount=form.amount.minor,
            reason=(form.reason.data or "").strip(),
            cancel_membership_too=bool(form.cancel_membership.data),
            actor=current_user,
        ),
        "Refund made.",
        "payments",
    )


@bp.route("/members/<int:contact_id>/welcome", methods=["POST"])
@requires("members.edit")
def member_resend_welcome(contact_id: int):
    return _act(
        contact_id,
        "welcome",
        lambda contact, form: services.resend_welcome(contact, actor=current_user),
        "Welcome email queued.",
        "emails",
    )


@bp.route("/members/<int:contact_id>/merge", methods=["POST"])
@requires("members.edit")
def member_merge(contact_id: int):
    return _act(
        contact_id,
        "merge",
        lambda contact, form: services.merge_contacts(contact, form.other.data, actor=current_user),
        "Contacts merged.",
        "details",
    )


@bp.route("/members/<int:contact_id>/erase", methods=["POST"])
@requires("members.edit")
def member_erase(contact_id: int):
    return _act(
        contact_id,
        "erase",
        lambda contact, form: services.confirm_erasure(contact, actor=current_user),
        "The contact has been erased.",
        "details",
    )
