"""Staff: the audit trail, filterable and read-only (no route edits or deletes an audit row)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import render_template, request
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.core.permissions import requires
from crm.extensions import db
from crm.staff import forms
from crm.staff.routes import bp
from crm.staff.search import escape_like

PER_PAGE = 100


@bp.route("/audit")
@requires("audit")
def audit():
    form = forms.AuditFilterForm(request.args)
    form.validate()
    stmt = select(AuditEvent)
    action = (form.action.data or "").strip() if not form.action.errors else ""
    actor = (form.actor.data or "").strip().lower() if not form.actor.errors else ""
    if action:
        # "export" finds export.members and export.payments; an exact name finds just that.
        stmt = stmt.where(AuditEvent.action.like(f"{escape_like(action)}%", escape="\\"))
    if actor:
        stmt = stmt.where(func.lower(AuditEvent.actor_label).like(f"%{escape_like(actor)}%", escape="\\"))
    if form.date_from.data and not form.date_from.errors:
        stmt = stmt.where(AuditEvent.at >= datetime.combine(form.date_from.data, time.min, tzinfo=UTC))
    if form.date_to.data and not form.date_to.errors:
        end = datetime.combine(form.date_to.data, time.min, tzinfo=UTC) + timedelta(days=1)
        stmt = stmt.where(AuditEvent.at < end)
    page = int(request.args["page"]) if request.args.get("page", "").isdigit() else 1
    page = max(1, min(page, 100_000))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    events = db.session.scalars(
        stmt.order_by(AuditEvent.id.desc()).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    ).all()
    args = {k: v for k, v in request.args.items() if k != "page" and v and k in form.data}
    return render_template(
        "staff/audit.html",
        form=form,
        audit=events,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        args=args,
        show_contact=True,
    )
