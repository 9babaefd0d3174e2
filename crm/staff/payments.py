"""Staff: payments for a date range (default this month), filtered, totalled in SQL, exported."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Response, render_template, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.sql import Select

from crm.audit.services import record
from crm.billing.models import Payment, PaymentStatus
from crm.contacts.models import Contact
from crm.core.permissions import has_permission, requires
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.models import Membership, Plan
from crm.staff import forms
from crm.staff.exports import payment_csv_lines, payment_rows_select
from crm.staff.routes import bp

PER_PAGE = 50


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def payment_filters() -> tuple[forms.PaymentFilterForm, dict[str, Any]]:
    """Filters from the address; the range defaults to this month, a bad value is ignored."""
    form = forms.PaymentFilterForm(request.args)
    form.validate()
    today = utcnow().date()
    ok = lambda field: field.data if not field.errors else None  # noqa: E731
    date_from = ok(form.date_from) or today.replace(day=1)
    date_to = ok(form.date_to) or today
    if date_to < date_from:
        date_from, date_to = date_to, date_from
    form.date_from.data, form.date_to.data = date_from, date_to
    return form, {
        "date_from": date_from,
        "date_to": date_to,
        "method": ok(form.method) or "",
        "status": ok(form.status) or "",
        "kind": ok(form.kind) or "",
    }


def filtered(stmt: Select[Any], filters: dict[str, Any]) -> Select[Any]:
    when = func.coalesce(Payment.paid_at, Payment.created_at)
    stmt = stmt.where(
        when >= _day_start(filters["date_from"]), when < _day_start(filters["date_to"]) + timedelta(days=1)
    )
    for name, column in (("method", Payment.method), ("status", Payment.status), ("kind", Payment.kind)):
        if filters[name]:
            stmt = stmt.where(column == filters[name])
    return stmt


def _listing(filters: dict[str, Any]) -> Select[Any]:
    return filtered(
        select(Payment)
        .join(Contact, Contact.id == Payment.contact_id)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .outerjoin(Plan, Plan.id == Membership.plan_id),
        filters,
    ).order_by(func.coalesce(Payment.paid_at, Payment.created_at).desc(), Payment.id.desc())


def _args(filters: dict[str, Any]) -> dict[str, str]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in filters.items() if v}


@bp.route("/payments")
@requires("payments")
def payments():
    form, filters = payment_filters()
    page = int(request.args["page"]) if request.args.get("page", "").isdigit() else 1
    page = max(1, min(page, 100_000))
    totals = db.session.execute(
        filtered(
            select(
                func.count(Payment.id),
                func.coalesce(func.sum(Payment.amount), 0),
                func.coalesce(func.sum(Payment.amount_refunded), 0),
            ).where(Payment.status != PaymentStatus.FAILED),
            filters,
        )
    ).one()
    failed = db.session.scalar(
        filtered(select(func.count(Payment.id)).where(Payment.status == PaymentStatus.FAILED), filters)
    )
    rows = db.session.execute(
        payment_rows_select(_listing(filters)).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    ).all()
    count = totals[0] + (failed or 0)
    args = _args(filters)
    return render_template(
        "staff/payments.html",
        form=form,
        rows=rows,
        totals={"count": totals[0], "amount": totals[1], "refunded": totals[2], "failed": failed or 0},
        page=page,
        pages=max(1, -(-count // PER_PAGE)),
        args=args,
        export_url=url_for("staff.payments_export", **args),
        # An empty month is the usual first sight: offer the year before the end date instead.
        year_url=url_for(
            "staff.payments", **{**args, "date_from": (filters["date_to"] - timedelta(days=365)).isoformat()}
        ),
        filters=filters,
        can_export=has_permission(current_user, "export"),
    )


@bp.route("/payments/export.csv")
@requires("export")
def payments_export():
    _form, filters = payment_filters()
    rows = db.session.scalar(filtered(select(func.count(Payment.id)), filters)) or 0
    record(
        "export.payments",
        target_type="export",
        target_id="payments",
        after={"rows": rows, "filters": _args(filters)},
        detail=f"{rows} rows",
    )
    db.session.commit()
    response = Response(
        stream_with_context(payment_csv_lines(payment_rows_select(_listing(filters)))), mimetype="text/csv"
    )
    response.headers["Content-Disposition"] = 'attachment; filename="payments.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
