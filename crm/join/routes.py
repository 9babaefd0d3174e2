"""Joining, donating and subscribing to updates."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("join", __name__)


@bp.get("/join")
def join():  # type: ignore[no-untyped-def]
    return render_template("join/placeholder.html")
