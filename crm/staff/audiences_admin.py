"""Staff: the audience builder (count before saving), saved audiences, their CSV export and "add tag"."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from crm.audiences import filters as audience_filters
from crm.audiences import services
from crm.audiences.forms import ActionForm, AudienceForm, TagAudienceForm
from crm.audiences.models import Audience
from crm.contacts import tags
from crm.core.permissions import requires
from crm.core.text import counted
from crm.extensions import db
from crm.memberships.models import Plan
from crm.staff.routes import bp


def _builder(formdata: Any = None, stored: dict[str, Any] | None = None, **kwargs: Any) -> AudienceForm:
    """The builder with its choices read from the database; `stored`: a saved audience's filter."""
    form = AudienceForm(formdata=formdata, **kwargs)
    if stored is not None:
        form.fill_from(stored)
    form.offer_sources()
    form.plan_ids.choices = [
        SelectChoice(p.id, p.name) for p in db.session.scalars(select(Plan).order_by(Plan.display_order))
    ]
    form.tag_ids.choices = [SelectChoice(t.id, t.name) for t in tags.all_tags()]
    return form


def count_text(count: int) -> str:
    """ "1 contact matches", "2,345 contacts match": the builder's count, on the page and live."""
    return f"{counted(count, 'contact')} {'matches' if count == 1 else 'match'}"


def _count(form: AudienceForm) -> tuple[int | None, str]:
    try:
        return audience_filters.count(audience_filters.clean(form.to_filter())), ""
    except audience_filters.FilterError as error:
        return None, str(error)


@bp.route("/audiences", methods=["GET", "POST"])
@requires("audiences")
def audiences():
    """GET with the builder's fields shows the count ("Count"); POST saves it by name."""
    if request.method == "POST":
        form = _builder(request.form)
        if form.validate_on_submit():
            try:
                audience = services.save_audience(form.name.data or "", form.to_filter(), actor=current_user)
            except services.AudienceError as error:
                form.name.errors = [str(error)]
            else:
                db.session.commit()
                flash(f"Audience “{audience.name}” saved.", "success")
                return redirect(url_for("staff.audience", audience_id=audience.id))
        status = 400
    else:
        form = _builder(request.args or None, meta={"csrf": False})
        if request.args:
            form.validate()
        status = 200
    count, problem = _count(form) if request.args or request.method == "POST" else (None, "")
    saved = list(db.session.scalars(select(Audience).order_by(Audience.name)))
    return render_template(
        "audiences/builder.html", form=form, count=count, problem=problem, saved=saved, count_text=count_text
    ), status


@bp.get("/audiences/count")
@requires("audiences")
def audiences_count():
    """The live count for the builder's small script (same filter, same checks: filters.clean).

    No plan or tag choices are read: nothing is rendered, and clean() checks every value again."""
    form = AudienceForm(formdata=request.args, meta={"csrf": False})
    form.validate()
    count, problem = _count(form)
    return jsonify(count=count, problem=problem, text=problem or count_text(count or 0))


def _audience_or_404(audience_id: int) -> Audience:
    audience = db.session.get(Audience, audience_id)
    if audience is None:
        abort(404)
    return audience


@bp.get("/audiences/<int:audience_id>")
@requires("audiences")
def audience(audience_id: int):
    found = _audience_or_404(audience_id)
    form = _builder(None, stored=found.filters, meta={"csrf": False})
    return render_template("audiences/detail.html", audience=found, count=services.count(found), count_text=count_text, form=form,
                           tag_form=TagAudienceForm(), action_form=ActionForm())  # fmt: skip


@bp.get("/audiences/<int:audience_id>/export")
@requires("export")
def audience_export(audience_id: int):
    found = _audience_or_404(audience_id)
    body = "".join(services.export_lines(found, actor=current_user))
    db.session.commit()
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="audience-{found.id}.csv"'})  # fmt: skip


@bp.post("/audiences/<int:audience_id>/tag")
@requires("audiences")
def audience_tag(audience_id: int):
    found = _audience_or_404(audience_id)
    form = TagAudienceForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        added = services.tag_audience(found, form.tag.data or "", actor=current_user)
    except tags.TagError as error:
        flash(str(error), "error")
        return redirect(url_for("staff.audience", audience_id=found.id))
    db.session.commit()
    flash(f"Tagged {counted(added, 'more contact', 'more contacts')} “{form.tag.data.strip()}”.", "success")
    return redirect(url_for("staff.audience", audience_id=found.id))


@bp.post("/audiences/<int:audience_id>/delete")
@requires("audiences")
def audience_delete(audience_id: int):
    found = _audience_or_404(audience_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    name = found.name
    stopped = services.delete_audience(found, actor=current_user)
    db.session.commit()
    extra = ""
    if stopped:
        were = "was" if stopped == 1 else "were"
        extra = f" {counted(stopped, 'scheduled campaign')} using it {were} stopped."
    flash(f"Audience “{name}” deleted.{extra}", "success")
    return redirect(url_for("staff.audiences"))
