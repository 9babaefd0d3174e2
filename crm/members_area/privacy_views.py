"""The member's data rights: download everything we hold, and ask to be forgotten."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm.audit.services import record
from crm.core.types import utcnow
from crm.extensions import db
from crm.members_area import services
from crm.members_area.export import data_download
from crm.members_area.forms import ConfirmForm
from crm.members_area.routes import bp, own_contact


def _download(extension: str) -> Response:
    contact = own_contact()
    response = data_download(contact, extension, f"my-data-{utcnow():%Y-%m-%d}.{extension}")
    # The download is a security event (personal data leaves the system): audited, never cached.
    record(
        "export.self",
        target_type="contact",
        target_id=contact.id,
        contact_id=contact.id,
        detail=extension,
        actor=current_user,
    )
    db.session.commit()
    return response


@bp.get("/data.json")
@login_required
def data_json():
    return _download("json")


@bp.get("/data.csv")
@login_required
def data_csv():
    return _download("csv")


@bp.route("/forget", methods=["GET", "POST"])
@login_required
def forget():
    contact = own_contact()
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        services.request_erasure(contact, actor=current_user)
        db.session.commit()
        flash(
            _("We have your request. Our staff will review it and erase your details within one month."),
            "success",
        )
        return redirect(url_for(".account"))
    return render_template("members_area/forget.html", form=form, contact=contact)
