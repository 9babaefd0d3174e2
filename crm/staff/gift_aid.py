"""Staff: the Gift Aid claim for a date range (preview, download and mark as claimed, past claims)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.audit.services import record
from crm.billing.models import GiftAidClaim
from crm.core.features import requires_gift_aid
from crm.core.permissions import requires
from crm.extensions import db
from crm.staff import gift_aid_service as service
from crm.staff.content_forms import GiftAidClaimForm, GiftAidRangeForm
from crm.staff.routes import bp


def _csv_response(text: str, filename: str) -> Response:
    return Response(
        "\ufeff" + text,  # a BOM, so spreadsheet programs read the names as UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@bp.get("/gift-aid")
@requires_gift_aid
@requires("gift_aid")
def gift_aid():
    form = GiftAidRangeForm(request.args)
    rows = None
    claim_form = GiftAidClaimForm()
    if request.args and form.validate():
        rows = service.preview_claim(form.date_from.data, form.date_to.data)
        claim_form.date_from.data, claim_form.date_to.data = form.date_from.data, form.date_to.data
    return render_template(
        "staff/gift_aid.html",
        form=form,
        rows=rows,
        total=sum(r.amount for r in rows or []),
        claim_form=claim_form,
        claims=service.past_claims(),
        columns=service.COLUMNS,
        day=timedelta(days=1),
    )


@bp.post("/gift-aid/claim")
@requires_gift_aid
@requires("gift_aid")
def gift_aid_claim():
    form = GiftAidClaimForm()
    if not form.validate_on_submit() or form.date_to.data < form.date_from.data:
        flash("Choose a valid date range first.", "error")
        return redirect(url_for("staff.gift_aid"))
    date_from: date = form.date_from.data
    date_to: date = form.date_to.data
    claim = service.create_claim(date_from, date_to, actor=current_user)
    if claim is None:
        db.session.rollback()
        flash(
            "There is nothing left to claim for those dates: every eligible payment is already claimed.",
            "warning",
        )
        return redirect(
            url_for("staff.gift_aid", date_from=date_from.isoformat(), date_to=date_to.isoformat())
        )
    text = service.rows_to_csv(service.claim_rows(claim))
    db.session.commit()
    return _csv_response(text, f"gift-aid-claim-{claim.id}-{date_from:%Y%m%d}-{date_to:%Y%m%d}.csv")


@bp.get("/gift-aid/claims/<int:claim_id>.csv")
@requires_gift_aid
@requires("gift_aid")
def gift_aid_claim_download(claim_id: int):
    claim = db.session.get(GiftAidClaim, claim_id)
    if claim is None:
        abort(404)
    text = service.rows_to_csv(service.claim_rows(claim))
    record(
        "export.gift_aid_claim",
        target_type="gift_aid_claim",
        target_id=claim.id,
        detail=f"re-downloaded claim {claim.id} ({claim.payment_count} payments)",
    )
    db.session.commit()
    return _csv_response(text, f"gift-aid-claim-{claim.id}.csv")
