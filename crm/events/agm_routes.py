"""Members at the AGM: the agenda, submitting a motion, voting, and the published results."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm.events import agm
from crm.events.forms import MotionForm, VoteForm
from crm.events.localtime import format_local
from crm.events.models import Event, Motion
from crm.events.routes import bp
from crm.extensions import db
from crm.i18n.content import localised


def _meeting_or_404(event_id: int):
    event = db.session.get(Event, event_id)
    meeting = agm.meeting_for(event) if event is not None and event.published else None
    if meeting is None:
        abort(404)
    return meeting


@bp.get("/agm/<int:event_id>")
@login_required
def agm_page(event_id: int):
    meeting = _meeting_or_404(event_id)
    contact_id = current_user.contact_id
    published = meeting.agenda_published_at is not None
    return render_template(
        "events/agm.html", meeting=meeting, event=meeting.event, when=format_local, motion_form=MotionForm(),
        vote_form=VoteForm(), agenda=agm.agenda(meeting) if published else [], voting_open=agm.voting_is_open(meeting),
        eligible=agm.is_eligible(meeting, contact_id), voted={m.id for m in meeting.motions if agm.has_voted(m, contact_id)},
        results=agm.results(meeting) if meeting.results_published_at else [], closed=agm.voting_has_closed(meeting),
    )  # fmt: skip


@bp.post("/agm/<int:event_id>/motions")
@login_required
def agm_submit_motion(event_id: int):
    meeting = _meeting_or_404(event_id)
    form = MotionForm()
    if not form.validate_on_submit():
        flash(_("Enter a title and the text of your motion."), "error")
    else:
        try:
            agm.submit_motion(meeting, current_user.contact_id, title=form.title.data, text=form.text.data)
        except agm.VoteRefused as refused:
            db.session.rollback()
            flash(str(refused), "error")
        else:
            db.session.commit()
            flash(_("Thank you: your motion is submitted."), "success")
    return redirect(url_for("events.agm_page", event_id=event_id), code=303)


@bp.post("/agm/motions/<int:motion_id>/vote")
@login_required
def agm_vote(motion_id: int):
    motion = db.session.get(Motion, motion_id)
    if motion is None:
        abort(404)
    form = VoteForm()
    # The voter is always the signed-in member: an id in the form is never read.
    try:
        if not form.validate_on_submit():
            raise agm.VoteRefused(_("Choose for, against or abstain."))
        agm.cast_vote(motion, current_user.contact_id, form.choice.data)
    except agm.VoteRefused as refused:
        db.session.rollback()
        flash(_("Your vote was not recorded: %(reason)s", reason=refused), "error")
        return redirect(url_for("events.agm_page", event_id=motion.meeting_id), code=303)
    db.session.commit()
    flash(_("Your vote on “%(motion)s” is recorded.", motion=localised(motion, "title")), "success")
    return redirect(url_for("events.agm_page", event_id=motion.meeting_id), code=303)
