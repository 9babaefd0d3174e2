"""Sign in, sign out and one-time sign-in links. Password pages are in password_views.py, the
staff second factor in mfa_views.py (both register on this blueprint)."""

from __future__ import annotations

import hashlib

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from crm.accounts import mfa, services, tokens
from crm.accounts.forms import ConfirmForm, EmailForm, LoginForm
from crm.accounts.models import STAFF_ROLES, User
from crm.accounts.session import end_session, is_remembered_session, safe_next_url, start_session
from crm.audit.services import record
from crm.contacts import services as contacts
from crm.extensions import db, limiter

bp = Blueprint("accounts", __name__)

GENERIC_FAILURE = "The email address or password is not right. Check them and try again."


def email_key() -> str:
    """Rate-limit key for one account: the submitted email (hashed, so no address sits in Redis).

    It never reads X-Forwarded-For, so changing proxy headers cannot dodge it."""
    email = contacts.email_key(request.form.get("email"))
    return "email:" + hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def requester_email_key() -> str:
    """Rate-limit key for one requester asking about one account: a stranger hammering someone's
    address is limited without blocking the owner asking from elsewhere."""
    return f"{get_remote_address()}|{email_key()}"


def attempt_failed(response: Response) -> bool:
    return bool(g.get("attempt_failed"))


def home_for(user: User) -> str:
    if user.role == "editor":
        return "/staff/news"
    return "/staff" if user.role in STAFF_ROLES else "/account"


def after_password(user: User, next_url: str | None, *, remember: bool = False) -> Response:
    """The password (or a sign-in link) is accepted: staff go on to the second factor."""
    if user.role in STAFF_ROLES:
        mfa.begin(user, next_url=next_url)
        db.session.commit()
        return redirect(url_for("accounts.mfa_verify" if user.totp_enabled else "accounts.mfa_enrol"))
    start_session(user, remember=remember)
    services.record_login(user)
    db.session.commit()
    return redirect(next_url or home_for(user))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"], deduct_when=attempt_failed, key_func=get_remote_address)
@limiter.limit("5/minute", methods=["POST"], deduct_when=attempt_failed, key_func=email_key)
def login() -> Response | str:
    form = LoginForm()
    next_url = safe_next_url(form.next.data or request.args.get("next"))
    if request.method == "GET":
        form.next.data = next_url or ""
        if current_user.is_authenticated and not is_remembered_session():
            return redirect(next_url or home_for(current_user))
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            return after_password(user, next_url, remember=bool(form.remember.data))
        g.attempt_failed = True
        services.record_login_failure(form.email.data)
        db.session.commit()
        form.form_errors.append(GENERIC_FAILURE)
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        record("logout", target_type="user", target_id=current_user.id, contact_id=current_user.contact_id)
    end_session()
    db.session.commit()
    flash(_("You have signed out."), "success")
    return redirect("/")


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere() -> Response:
    services.sign_out_everywhere(current_user.account)
    end_session()
    db.session.commit()
    flash(_("You have been signed out on every device, including this one."), "success")
    return redirect(url_for("accounts.login"))


def _no_referrer(body: str, status: int = 200) -> tuple[str, int, dict[str, str]]:
    """Pages whose address holds a token must not leak it in a Referer header."""
    return body, status, {"Referrer-Policy": "no-referrer"}


def link_invalid(kind: str) -> tuple[str, int, dict[str, str]]:
    return _no_referrer(render_template("accounts/link_invalid.html", kind=kind), 410)


@bp.route("/login/link", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], key_func=get_remote_address)
@limiter.limit("10/hour", methods=["POST"], key_func=requester_email_key)
def login_link_request() -> str:
    form = EmailForm()
    if form.validate_on_submit():
        with services.same_time_for_everyone():
            services.request_login_link(form.email.data)
            db.session.commit()
        return render_template("accounts/check_email.html", kind="login_link", email=form.email.data)
    return render_template("accounts/login_link_request.html", form=form)


@bp.route("/login/link/<token>", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], key_func=get_remote_address)
def login_link(token: str) -> Response | tuple[str, int, dict[str, str]]:
    """GET only shows a button (mail scanners open links); the POST uses the link."""
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        if tokens.find_token(tokens.LOGIN_LINK, token) is None:
            return link_invalid("login_link")
        return _no_referrer(render_template("accounts/login_link_confirm.html", form=form))
    used = tokens.consume_token(tokens.LOGIN_LINK, token)
    user = db.session.get(User, used.user_id) if used and used.user_id else None
    if user is None or user.disabled:
        db.session.commit()
        return link_invalid("login_link")
    return after_password(user, None)


from crm.accounts import email_change_views, mfa_views, password_views  # noqa: E402,F401  (register their views on bp)
