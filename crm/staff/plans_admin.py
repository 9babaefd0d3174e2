"""Staff (admin): create, edit and retire membership plans; a price change makes a new Stripe Price."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import select

from crm.audit.services import record
from crm.billing import stripe_gateway
from crm.core.permissions import requires
from crm.extensions import db
from crm.memberships.models import INTERVAL_LABELS, Plan
from crm.staff.content_forms import ActionForm, PlanForm
from crm.staff.routes import bp

log = logging.getLogger("crm.staff.plans")


def _snapshot(plan: Plan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "slug": plan.slug,
        "description": plan.description,
        "name_es": plan.name_es,
        "description_es": plan.description_es,
        "amount": plan.amount,
        "interval": plan.interval,
        "gift_aid_eligible": plan.gift_aid_eligible,
        "joint": plan.joint,
        "grace_days": plan.grace_days,
        "display_order": plan.display_order,
        "active": plan.active,
        "stripe_price_id": plan.stripe_price_id,
    }


def sync_with_stripe(plan: Plan) -> str | None:
    """Create or update the plan's Stripe Product and Price. Returns an error message, or None
    only when Stripe holds the plan: a plan offered without a Stripe price could not be joined."""
    try:
        stripe_gateway.sync_plan(plan)
    except stripe_gateway.GatewayError as error:
        return f"Stripe could not update the plan, so nothing was saved. {error.user_message}"
    if plan.active and not plan.stripe_price_id:
        log.warning("plan %s: Stripe sync returned no price", plan.slug)
        return "Stripe did not confirm the plan's price, so nothing was saved. Try again."
    return None


def _form_to_plan(form: PlanForm, plan: Plan) -> None:
    plan.name = form.name.data
    plan.slug = form.slug.data
    plan.description = form.description.data or ""
    plan.name_es = form.name_es.data or ""
    plan.description_es = form.description_es.data or ""
    plan.amount = form.amount_pence
    plan.interval = form.interval.data
    plan.gift_aid_eligible = bool(form.gift_aid_eligible.data)
    plan.joint = bool(form.joint.data)
    plan.grace_days = form.grace_days.data
    plan.display_order = form.display_order.data or 0  # required by the form
    plan.active = bool(form.active.data)


@bp.get("/plans")
@requires("plans")
def plans_list():
    plans = db.session.scalars(select(Plan).order_by(Plan.active.desc(), Plan.display_order, Plan.id)).all()
    return render_template(
        "staff/plans_list.html", plans=plans, action_form=ActionForm(), interval_labels=INTERVAL_LABELS
    )


def _edit(original: Plan | None):
    plan = original
    form = PlanForm(obj=plan)
    if plan is not None and not form.is_submitted():
        form.amount.data = f"{plan.amount // 100}.{plan.amount % 100:02d}"
    if form.validate_on_submit():
        clash = db.session.scalar(select(Plan.id).where(Plan.slug == form.slug.data))
        if clash is not None and (plan is None or clash != plan.id):
            form.slug.errors.append("Another plan already uses that slug")
        else:
            creating, before = plan is None, (None if plan is None else _snapshot(plan))
            plan = plan or Plan(currency="gbp")
            _form_to_plan(form, plan)
            db.session.add(plan)
            db.session.flush()
            # sync_plan makes a new Price (archiving the old) only when amount or interval changed.
            error = sync_with_stripe(plan)
            if error:
                db.session.rollback()
                form.amount.errors.append(error)
            else:
                record(
                    "plan.create" if creating else "plan.update",
                    target_type="membership_plan",
                    target_id=plan.id,
                    before=before,
                    after=_snapshot(plan),
                )
                db.session.commit()
                flash(f"Saved the plan “{plan.name}”.", "success")
                return redirect(url_for("staff.plans_list"))
    return render_template("staff/plans_edit.html", form=form, plan=original)


@bp.route("/plans/new", methods=["GET", "POST"])
@requires("plans")
def plans_new():
    return _edit(None)


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
@requires("plans")
def plans_edit(plan_id: int):
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        abort(404)
    return _edit(plan)


@bp.post("/plans/<int:plan_id>/retire")
@requires("plans")
def plans_retire(plan_id: int):
    """Retired plans are no longer offered; existing members on them keep their membership."""
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        abort(404)
    if ActionForm().validate_on_submit() and plan.active:
        before = _snapshot(plan)
        plan.active = False
        error = sync_with_stripe(plan)  # archives the Stripe product too
        if error:
            db.session.rollback()
            flash(error, "error")
            return redirect(url_for("staff.plans_list"))
        record(
            "plan.retire",
            target_type="membership_plan",
            target_id=plan.id,
            before=before,
            after=_snapshot(plan),
        )
        db.session.commit()
        flash(f"“{plan.name}” is retired: it is no longer offered to new members.", "success")
    return redirect(url_for("staff.plans_list"))
