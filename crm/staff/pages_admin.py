"""Staff: the organisation's public pages (about us, why join, privacy notice, Gift Aid statement)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from crm.audit.services import record
from crm.core.markup import render_markdown
from crm.core.permissions import requires
from crm.extensions import db
from crm.news.models import Page
from crm.news.translations import save_translation
from crm.staff.content_forms import PageForm
from crm.staff.routes import bp


def _snapshot(page: Page) -> dict[str, Any]:
    return {
        "title": page.title,
        "slug": page.slug,
        "show_in_nav": page.show_in_nav,
        "nav_order": page.nav_order,
        "body_markdown": page.body_markdown,
        "language": page.language,
        "translated_title": page.translated_title,
        "translated_body_markdown": page.translated_body_markdown,
    }


@bp.get("/pages")
@requires("pages")
def pages_list():
    pages = db.session.scalars(select(Page).order_by(Page.nav_order, Page.id)).all()
    return render_template("staff/pages_list.html", pages=pages)


def _save_page(page: Page | None, form: PageForm) -> Page:
    creating = page is None
    before = None if page is None else _snapshot(page)
    if page is None:
        page = Page()
        db.session.add(page)
    page.title = form.title.data
    page.slug = form.slug.data
    page.body_markdown = form.body.data or ""
    page.body_html = render_markdown(page.body_markdown)
    page.show_in_nav = bool(form.show_in_nav.data)
    page.nav_order = form.nav_order.data or 0  # required by the form
    save_translation(
        page,
        language=form.language.data,
        title=form.translated_title.data or "",
        body_markdown=form.translated_body.data or "",
    )
    db.session.flush()
    record(
        "page.create" if creating else "page.update",
        target_type="site_page",
        target_id=page.id,
        before=before,
        after=_snapshot(page),
    )
    return page


def _edit(page: Page | None):
    form = PageForm(obj=page)
    if request.method == "GET" and page is not None:
        form.body.data = page.body_markdown
        form.translated_body.data = page.translated_body_markdown
    preview = None
    if form.validate_on_submit():
        clash = db.session.scalar(select(Page.id).where(Page.slug == form.slug.data))
        if clash is not None and (page is None or clash != page.id):
            form.slug.errors.append("Another page already uses that web address")
        elif request.form.get("action") == "preview":
            preview = render_markdown(form.body.data or "")
        else:
            page = _save_page(page, form)
            db.session.commit()
            flash(f"Saved “{page.title}”.", "success")
            return redirect(url_for("staff.pages_edit", page_id=page.id))
    return render_template("staff/pages_edit.html", form=form, page=page, preview=preview)


@bp.route("/pages/new", methods=["GET", "POST"])
@requires("pages")
def pages_new():
    return _edit(None)


@bp.route("/pages/<int:page_id>/edit", methods=["GET", "POST"])
@requires("pages")
def pages_edit(page_id: int):
    page = db.session.get(Page, page_id)
    if page is None:
        abort(404)
    return _edit(page)
