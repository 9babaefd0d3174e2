"""Password pages: reset by email, set from the welcome email, change while signed in."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from crm.accounts import services, tokens
from crm.accounts.forms import ChangePasswordForm, EmailForm, NewPasswordForm
from crm.accounts.models import STAFF_ROLES, User
from crm.accounts.routes import _no_referrer, attempt_failed, bp, home_for, link_invalid, requester_email_key
from crm.accounts.session import is_remembered_session, start_session
from crm.extensions import db, limiter

Page = Response | tuple[str, int, dict[str, str]]


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], key_func=get_remote_address)
@limiter.limit("10/hour", methods=["POST"], key_func=requester_email_key)
def reset_request() -> Page:
    form = EmailForm()
    if form.validate_on_submit():
        with services.same_time_for_everyone():
            services.request_password_reset(form.email.data)
            db.session.commit()
        return _no_referrer(render_template("accounts/check_email.html", kind="reset", email=form.email.data))
    return _no_referrer(render_template("accounts/reset_request.html", form=form))


def _token_password_page(
    purpose: str, token: str, template: str
) -> tuple[NewPasswordForm, User | None, Page | None]:
    """Shared by reset and set: the form, and the user once the token is used on a valid POST."""
    form = NewPasswordForm()
    if tokens.find_token(purpose, token) is None:
        return form, None, link_invalid(purpose)
    if not form.validate_on_submit():
        return form, None, _no_referrer(render_template(template, form=form))
    used = tokens.consume_token(purpose, token)
    user = db.session.get(User, used.user_id) if used and used.user_id else None
    if user is None or user.disabled:
        return form, None, link_invalid(purpose)
    return form, user, None


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Page:
    form, user, page = _token_password_page(tokens.RESET_PASSWORD, token, "accounts/reset_password.html")
    if page is not None or user is None:
        return page  # type: ignore[return-value]  # page is set whenever user is None
    services.set_new_password(user, form.password.data, reason="reset")
    db.session.commit()
    flash(_("Your password has been changed. You can now sign in with it."), "success")
    return redirect(url_for("accounts.login"))


@bp.route("/password/set/<token>", methods=["GET", "POST"])
def set_password(token: str) -> Page:
    """The welcome email's link: a member is signed in straight after (staff still need MFA)."""
    form, user, page = _token_password_page(tokens.SET_PASSWORD, token, "accounts/set_password.html")
    if page is not None or user is None:
        return page  # type: ignore[return-value]  # page is set whenever user is None
    services.set_new_password(user, form.password.data, reason="set")
    if user.role in STAFF_ROLES:
        db.session.commit()
        flash(_("Your password is set. Please sign in."), "success")
        return redirect(url_for("accounts.login"))
    start_session(user)
    services.record_login(user)
    db.session.commit()
    flash(_("Your password is set and you are signed in."), "success")
    return redirect(home_for(user))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit("10/minute", methods=["POST"], deduct_when=attempt_failed, key_func=get_remote_address)
def change_password() -> Page | str:
    if is_remembered_session():
        flash(_("For your security, please sign in again before changing your password."), "info")
        return redirect(url_for("accounts.login", next=request.path))
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not services.check_current_password(current_user.account, form.current_password.data):
            g.attempt_failed = True
            form.current_password.errors = [_("Your current password is not right.")]
            return render_template("accounts/change_password.html", form=form)
        user = current_user.account
        mfa_ok = bool(session.get("mfa_ok"))
        services.set_new_password(user, form.password.data, reason="changed")
        start_session(user, mfa_ok=mfa_ok)  # a new session; every other one has ended
        db.session.commit()
        flash(_("Your password has been changed. You have been signed out everywhere else."), "success")
        return redirect(home_for(user))
    return render_template("accounts/change_password.html", form=form)
