"""Staff running the AGM: motions window, agenda, voting window, proxy and in-room votes, results."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.contacts.services import email_key
from crm.core.permissions import requires
from crm.events import agm
from crm.events.forms import ActionForm, MotionSpanishForm, StaffVoteForm, VotingWindowForm
from crm.events.localtime import format_local, to_local, to_utc
from crm.events.models import Event, Motion
from crm.extensions import db
from crm.staff.events_admin import _event_or_404
from crm.staff.routes import bp


def _back(event_id: int):
    return redirect(url_for("staff.agm_manage", event_id=event_id), code=303)


def _step(event_id: int, action) -> object:
    """Run one AGM step from a button: commit it, or say why it changed nothing."""
    event = _event_or_404(event_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        action(event)
    except agm.VoteRefused as refused:
        db.session.rollback()
        flash(str(refused), "error")
    else:
        db.session.commit()
        flash("Done.", "success")
    return _back(event_id)


def _meeting(event: Event):
    meeting = agm.meeting_for(event)
    if meeting is None:
        raise agm.VoteRefused("This event is not an AGM.")
    return meeting


def _window_now(meeting) -> dict[str, object]:
    """The voting window already set, in UK time, so the form shows what changing it changes."""
    if meeting is None or meeting.voting_opens_at is None:
        return {}
    return {
        "opens_at": to_local(meeting.voting_opens_at).replace(tzinfo=None),
        "closes_at": to_local(meeting.voting_closes_at).replace(tzinfo=None),
        "record_date": meeting.record_date,
    }


@bp.get("/events/<int:event_id>/agm")
@requires("events")
def agm_manage(event_id: int):
    event = _event_or_404(event_id)
    meeting = agm.meeting_for(event)
    window = VotingWindowForm(data=_window_now(meeting))
    voters = agm.participation(meeting) if meeting else []
    names = {
        c.id: c
        for c in db.session.scalars(select(Contact).where(Contact.id.in_({p.contact_id for p in voters})))
    }
    return render_template(
        "staff/events/agm.html", event=event, meeting=meeting, form=ActionForm(), window=window,
        vote_form=StaffVoteForm(), voters=voters, names=names, when=format_local,
        results=agm.results(meeting) if meeting else [], voting_open=bool(meeting and agm.voting_is_open(meeting)),
    )  # fmt: skip


@bp.post("/events/<int:event_id>/agm/setup")
@requires("events")
def agm_setup(event_id: int):
    return _step(event_id, agm.hold_agm)


@bp.post("/events/<int:event_id>/agm/motions-window")
@requires("events")
def agm_motions_window(event_id: int):
    return _step(event_id, lambda e: agm.set_motions_open(_meeting(e), request.form.get("open") == "1"))


def _motion_or_404(event_id: int, motion_id: int) -> Motion:
    motion = db.session.get(Motion, motion_id)
    if motion is None or motion.meeting_id != event_id:
        abort(404)
    return motion


@bp.post("/events/<int:event_id>/agm/motions/<int:motion_id>/decide")
@requires("events")
def agm_decide_motion(event_id: int, motion_id: int):
    motion = _motion_or_404(event_id, motion_id)
    return _step(event_id, lambda e: agm.decide_motion(motion, accepted=request.form.get("accept") == "1"))


@bp.post("/events/<int:event_id>/agm/motions/<int:motion_id>/spanish")
@requires("events")
def agm_motion_spanish(event_id: int, motion_id: int):
    motion = _motion_or_404(event_id, motion_id)
    form = MotionSpanishForm()
    if not form.validate_on_submit():
        flash("Keep the Spanish title under 200 characters and the text under 20,000.", "error")
        return _back(event_id)
    agm.translate_motion(motion, title_es=form.title_es.data or "", text_es=form.text_es.data or "")
    db.session.commit()
    flash(f"Saved the Spanish version of “{motion.title}”.", "success")
    return _back(event_id)


@bp.post("/events/<int:event_id>/agm/agenda")
@requires("events")
def agm_publish_agenda(event_id: int):
    return _step(event_id, lambda e: agm.publish_agenda(_meeting(e)))


@bp.post("/events/<int:event_id>/agm/voting")
@requires("events")
def agm_voting_window(event_id: int):
    event = _event_or_404(event_id)
    form = VotingWindowForm()
    if not form.validate_on_submit():
        flash("Enter when voting opens and closes, and the record date.", "error")
        return _back(event_id)
    try:
        agm.set_voting_window(_meeting(event), opens_at=to_utc(form.opens_at.data), closes_at=to_utc(form.closes_at.data),
                              record_date=form.record_date.data)  # fmt: skip
    except agm.VoteRefused as refused:
        db.session.rollback()
        flash(str(refused), "error")
    else:
        db.session.commit()
        flash("Voting window saved.", "success")
    return _back(event_id)


@bp.post("/events/<int:event_id>/agm/motions/<int:motion_id>/staff-vote")
@requires("events")
def agm_staff_vote(event_id: int, motion_id: int):
    motion = _motion_or_404(event_id, motion_id)
    form = StaffVoteForm()
    contact = db.session.scalar(select(Contact).where(Contact.email == email_key(form.member_email.data)))
    try:
        if not form.validate_on_submit() or contact is None:
            raise agm.VoteRefused("Enter the email of a member and their vote.")
        agm.cast_vote(
            motion, contact.id, form.choice.data, channel=form.channel.data, entered_by=current_user
        )
    except agm.VoteRefused as refused:
        db.session.rollback()
        flash(f"Not recorded: {refused}", "error")
    else:
        db.session.commit()
        flash(f"{form.channel.data.replace('_', ' ')} vote recorded for {contact.email}.", "success")
    return _back(event_id)


@bp.post("/events/<int:event_id>/agm/results")
@requires("events")
def agm_publish_results(event_id: int):
    return _step(event_id, lambda e: agm.publish_results(_meeting(e)))
