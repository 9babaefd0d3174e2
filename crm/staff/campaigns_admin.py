"""Staff: email campaigns. Editors draft, preview and test; staff and admins confirm and send."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from crm.audiences.models import Audience
from crm.campaigns import services
from crm.campaigns.forms import ActionForm, CampaignForm, ConfirmForm
from crm.campaigns.models import Campaign
from crm.core.permissions import has_permission, requires
from crm.extensions import db
from crm.news.models import Post
from crm.staff.routes import bp


def _campaign_or_404(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def _form(**kwargs: Any) -> CampaignForm:
    form = CampaignForm(**kwargs)
    form.audience_id.choices = [SelectChoice(0, "Choose later")] + [
        SelectChoice(a.id, a.name) for a in db.session.scalars(select(Audience).order_by(Audience.name))
    ]
    return form


@bp.get("/campaigns")
@requires("campaigns")
def campaigns():
    rows = list(db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(200)))
    return render_template("campaigns/list.html", campaigns=rows)


def _save(campaign: Campaign | None, form: CampaignForm) -> Campaign:
    post_id = int(form.post_id.data) if (form.post_id.data or "").isdigit() else None
    if post_id is not None and db.session.get(Post, post_id) is None:
        post_id = None
    return services.save_draft(
        campaign, subject=form.subject.data or "", preheader=form.preheader.data or "", body=form.body.data or "",
        purpose=form.purpose.data or "", audience_id=form.audience_id.data or None, post_id=post_id, actor=current_user,
    )  # fmt: skip


@bp.route("/campaigns/new", methods=["GET", "POST"])
@requires("campaigns")
def campaign_new():
    """Also "start a campaign from this post" (?post_id=) and "to this audience" (?audience_id=)."""
    form = _form()
    if request.method == "GET":
        post = db.session.get(Post, request.args.get("post_id", type=int) or 0)
        if post is not None:
            form.subject.data, form.preheader.data, form.post_id.data = (
                post.title,
                post.summary or "",
                str(post.id),
            )
            form.body.data = post.body_markdown
        form.audience_id.data = request.args.get("audience_id", type=int) or 0
    elif form.validate_on_submit():
        try:
            campaign = _save(None, form)
        except services.CampaignError as error:
            form.subject.errors = [str(error)]
        else:
            db.session.commit()
            flash("Draft saved.", "success")
            return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id))
    return render_template("campaigns/edit.html", form=form, campaign=None), 400 if form.errors else 200


@bp.route("/campaigns/<int:campaign_id>", methods=["GET", "POST"])
@requires("campaigns")
def campaign_edit(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    form = _form(obj=None if request.method == "POST" else campaign)
    if request.method == "GET":
        form.body.data, form.audience_id.data = campaign.body_markdown, campaign.audience_id or 0
        form.post_id.data = str(campaign.post_id or "")
    elif form.validate_on_submit():
        try:
            _save(campaign, form)
        except services.CampaignError as error:
            form.subject.errors = [str(error)]
        else:
            db.session.commit()
            flash("Draft saved.", "success")
            return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id))
    count = services.recipient_count(campaign) if campaign.audience_id else None
    return render_template("campaigns/edit.html", form=form, campaign=campaign, count=count,
                           preview=services.body_html(campaign), action_form=ActionForm(),
                           can_send=has_permission(current_user, "campaigns.send"))  # fmt: skip


@bp.post("/campaigns/<int:campaign_id>/test")
@requires("campaigns")
def campaign_test(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    services.send_test(campaign, actor=current_user)
    db.session.commit()
    flash("A test copy is on its way to your own address.", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id))


@bp.route("/campaigns/<int:campaign_id>/confirm", methods=["GET", "POST"])
@requires("campaigns.send")
def campaign_confirm(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    form = ConfirmForm()
    count = services.recipient_count(campaign)
    if request.method == "POST" and form.validate_on_submit():
        when = form.send_at.data if form.when.data == "later" else None
        try:
            if form.when.data == "later" and when is None:
                raise services.CampaignError("Choose the UK date and time to send it.")
            services.confirm_send(campaign, count_seen=form.count_seen.data, when_uk=when, actor=current_user)
        except services.CampaignError as error:
            flash(str(error), "error")
        else:
            db.session.commit()
            if when is None:
                from crm.campaigns.sending import JOB
                from crm.jobs.queue import enqueue

                enqueue(JOB, campaign.id)
            flash(
                f"Sending to {count:,} people." if when is None else f"Scheduled for {count:,} people.",
                "success",
            )
            return redirect(url_for("staff.campaign_report", campaign_id=campaign.id))
    form.count_seen.data = count
    return render_template("campaigns/confirm.html", form=form, campaign=campaign, count=count)


@bp.get("/campaigns/<int:campaign_id>/report")
@requires("campaigns")
def campaign_report(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    return render_template("campaigns/report.html", campaign=campaign, report=services.report(campaign))
