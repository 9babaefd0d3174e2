"""Sign in, sign out, password and sign-in links."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("accounts", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    return render_template("accounts/placeholder.html")
