"""Staff: write, preview, publish, schedule and unpublish news. A post is emailed
by starting a campaign from it (crm.staff.campaigns_admin)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.core.markup import render_markdown
from crm.core.permissions import requires
from crm.core.types import utcnow
from crm.extensions import db
from crm.i18n.formatting import format_datetime
from crm.news import publishing
from crm.news.models import Post, PostStatus
from crm.news.translations import save_translation
from crm.staff.content_forms import ActionForm, PostForm, ScheduleForm
from crm.staff.routes import bp


def _post_or_404(post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None:
        abort(404)
    return post


@bp.get("/news")
@requires("news")
def news_list():
    posts = db.session.scalars(select(Post).order_by(Post.updated_at.desc(), Post.id.desc())).all()
    groups = {status: [p for p in posts if p.status == status] for status in PostStatus}
    # Drafts: last changed first; scheduled: next to go out first; published: newest first.
    groups[PostStatus.SCHEDULED].sort(key=lambda p: (p.publish_at is None, p.publish_at or utcnow()))
    groups[PostStatus.PUBLISHED].sort(
        key=lambda p: (p.published_at is not None, p.published_at or utcnow()), reverse=True
    )
    return render_template("staff/news_list.html", groups=groups)


def _slug_free(form: PostForm, post: Post | None) -> bool:
    if form.slug.data and publishing.slug_taken(form.slug.data, post.id if post else None):
        form.slug.errors.append("That web address is already used by another post")
        return False
    return True


def _edit(post: Post | None):
    form = PostForm(obj=post)
    if request.method == "GET" and post is not None:
        form.body.data = post.body_markdown
        form.translated_body.data = post.translated_body_markdown
    preview = None
    if form.validate_on_submit() and _slug_free(form, post):
        if request.form.get("action") == "preview":
            preview = render_markdown(form.body.data)
        else:
            post = publishing.save_post(
                post,
                title=form.title.data,
                slug=form.slug.data or "",
                summary=form.summary.data or "",
                body_markdown=form.body.data,
                visibility=form.visibility.data,
                author=current_user,
            )
            save_translation(
                post,
                language=form.language.data,
                title=form.translated_title.data or "",
                summary=form.translated_summary.data or "",
                body_markdown=form.translated_body.data or "",
            )
            db.session.commit()
            flash(f"Saved “{post.title}”.", "success")
            return redirect(url_for("staff.news_edit", post_id=post.id))
    return render_template(
        "staff/news_edit.html",
        form=form,
        post=post,
        preview=preview,
        schedule_form=ScheduleForm(),
        action_form=ActionForm(),
    )


@bp.route("/news/new", methods=["GET", "POST"])
@requires("news")
def news_new():
    return _edit(None)


@bp.route("/news/<int:post_id>/edit", methods=["GET", "POST"])
@requires("news")
def news_edit(post_id: int):
    return _edit(_post_or_404(post_id))


@bp.post("/news/<int:post_id>/publish")
@requires("news")
def news_publish(post_id: int):
    post = _post_or_404(post_id)
    if ActionForm().validate_on_submit():
        publishing.publish_post(post, actor=current_user)
        db.session.commit()
        flash(f"“{post.title}” is published.", "success")
    return redirect(url_for("staff.news_edit", post_id=post.id))


@bp.post("/news/<int:post_id>/schedule")
@requires("news")
def news_schedule(post_id: int):
    post = _post_or_404(post_id)
    form = ScheduleForm()
    if form.validate_on_submit() and form.when() <= utcnow():
        form.publish_date.errors.append("Choose a date and time in the future")
    elif form.validate_on_submit():
        publishing.schedule_post(post, form.when(), actor=current_user)
        db.session.commit()
        flash(f"“{post.title}” will be published on {format_datetime(form.when())}.", "success")
        return redirect(url_for("staff.news_edit", post_id=post.id))
    edit_form = PostForm(obj=post)
    edit_form.body.data = post.body_markdown
    return render_template(
        "staff/news_edit.html",
        form=edit_form,
        post=post,
        preview=None,
        schedule_form=form,
        action_form=ActionForm(),
    ), 400


@bp.post("/news/<int:post_id>/unpublish")
@requires("news")
def news_unpublish(post_id: int):
    post = _post_or_404(post_id)
    if ActionForm().validate_on_submit():
        publishing.unpublish_post(post, actor=current_user)
        db.session.commit()
        flash(f"“{post.title}” is unpublished and back to draft.", "success")
    return redirect(url_for("staff.news_edit", post_id=post.id))
