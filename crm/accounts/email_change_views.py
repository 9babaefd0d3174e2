"""The page behind the email-change confirmation link: GET shows a button, POST confirms."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from crm.accounts import email_change
from crm.accounts.forms import ConfirmForm
from crm.accounts.routes import _no_referrer, bp, link_invalid
from crm.extensions import db, limiter


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], key_func=get_remote_address)
def email_change_confirm(token: str) -> Response | tuple[str, int, dict[str, str]]:
    form = ConfirmForm()
    pending = email_change.pending_change(token)
    if pending is None:
        return link_invalid("email_change")
    if request.method == "GET" or not form.validate_on_submit():
        return _no_referrer(
            render_template("accounts/email_change_confirm.html", form=form, new_email=pending[1])
        )
    try:
        contact = email_change.confirm_email_change(token)
    except email_change.EmailChangeError as error:
        db.session.rollback()
        return _no_referrer(
            render_template(
                "accounts/email_change_confirm.html", form=form, new_email=pending[1], error=str(error)
            ),
            409,
        )
    db.session.commit()
    if contact is None:
        return link_invalid("email_change")
    flash(_("Your sign-in email is now %(email)s.", email=contact.email), "success")
    return redirect(url_for("accounts.login"))
