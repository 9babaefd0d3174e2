"""The staff second factor pages: enter a code, or enrol an authenticator app."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, session, url_for
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from crm.accounts import mfa, services
from crm.accounts.forms import CodeForm, EnrolForm
from crm.accounts.routes import attempt_failed, bp, home_for
from crm.accounts.session import start_session
from crm.audit.services import record
from crm.extensions import db, limiter

LOCKED_MESSAGE = f"Too many wrong security codes. Wait {mfa.LOCK_MINUTES} minutes, then sign in again."


def _restart(message: str | None = None) -> Response:
    session.pop("mfa_pending", None)
    flash(message or "Please sign in again.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], deduct_when=attempt_failed, key_func=get_remote_address)
def mfa_verify() -> Response | str:
    user = mfa.pending_user()
    if user is None:
        return _restart()
    if not user.totp_enabled:
        return redirect(url_for("accounts.mfa_enrol"))
    if mfa.is_locked(user):
        return _restart(LOCKED_MESSAGE)
    form = CodeForm()
    if form.validate_on_submit():
        by_app = mfa.verify_totp(user, form.code.data)
        by_recovery = not by_app and mfa.use_recovery_code(user, form.code.data)
        if by_app or by_recovery:
            next_url = (mfa.pending() or {}).get("next")
            mfa.note_success(user)
            start_session(user, mfa_ok=True)
            services.record_login(user)
            if by_recovery:
                record("mfa.recovery_code_used", actor=user, target_type="user", target_id=user.id)
                flash(f"You used a recovery code. {len(user.recovery_codes)} remain.", "warning")
            db.session.commit()
            return redirect(next_url or home_for(user))
        g.attempt_failed = True
        too_many = mfa.note_failure(user)
        services.record_login_failure(user.email, "wrong security code")
        db.session.commit()
        if too_many:
            return _restart(LOCKED_MESSAGE if mfa.is_locked(user) else None)
        form.code.errors = ["That code is not right, or was already used. Try the next code from your app."]
    return render_template("accounts/mfa_verify.html", form=form)


@bp.route("/login/enrol", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], key_func=get_remote_address)
def mfa_enrol() -> Response | str:
    """Staff without a second factor set one up before anything else opens."""
    user = mfa.pending_user()
    data = mfa.pending()
    if user is None or data is None:
        return _restart()
    if user.totp_enabled:
        return redirect(url_for("accounts.mfa_verify"))
    secret = data.get("secret") or mfa.new_secret()
    data["secret"] = secret
    session["mfa_pending"] = data
    form = EnrolForm()
    if form.validate_on_submit():
        codes = mfa.enrol(user, secret, form.code.data)
        if codes is not None:
            next_url = data.get("next")
            start_session(user, mfa_ok=True)
            services.record_login(user)
            record("mfa.enrolled", actor=user, target_type="user", target_id=user.id)
            db.session.commit()
            return render_template(
                "accounts/recovery_codes.html", codes=codes, next_url=next_url or home_for(user)
            )
        form.code.errors = [
            "That code does not match. Check the secret was typed correctly and try the current code."
        ]
    return render_template(
        "accounts/mfa_enrol.html", form=form, secret=secret, uri=mfa.provisioning_uri(user, secret)
    )
