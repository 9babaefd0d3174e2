"""The public site: home page, the organisation's pages, and the health check."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, jsonify, render_template, request
from sqlalchemy import select, text

from crm.core.languages import normalise_language
from crm.core.schema_check import SCHEMA_OUT_OF_DATE, schema_is_current
from crm.extensions import db, limiter
from crm.i18n import current_language
from crm.memberships.models import Plan
from crm.news.models import Page
from crm.news.services import latest_posts

bp = Blueprint("public", __name__)
log = logging.getLogger("crm.health")


@bp.get("/")
def home():
    posts = latest_posts(limit=3, include_members_only=False)
    plans = db.session.scalars(
        select(Plan).where(Plan.active.is_(True)).order_by(Plan.display_order, Plan.id)
    ).all()
    return render_template("public/home.html", posts=posts, plans=plans)


@bp.get("/pages/<slug>")
def page(slug: str):
    found = db.session.scalar(select(Page).where(Page.slug == slug))
    if found is None:
        abort(404)
    language = normalise_language(request.args.get("lang")) or current_language()
    return render_template("public/page.html", page=found, language=language)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        current = schema_is_current()
    except Exception as error:  # noqa: BLE001  (any failure means the database is not usable)
        db.session.rollback()
        log.warning("health check: database unreachable (%s)", type(error).__name__)
        return jsonify({"status": "error", "database": "error"}), 503
    if not current:
        return jsonify(
            {"status": "error", "database": "schema out of date", "message": SCHEMA_OUT_OF_DATE}
        ), 503
    return jsonify({"status": "ok", "database": "ok"})
