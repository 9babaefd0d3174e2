"""The AGM: motions submitted in a window, a published agenda, a secret vote of the members in
good standing on the record date, and results with turnout.

Secrecy: who voted is a VoteParticipation row (contact, channel, time); how is a Ballot row with
no contact, no time and a random key, written in the same transaction, so the two cannot be
joined. Every step is in the audit log (never the choice). Services flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crm.audit import services as audit
from crm.core.markup import render_markdown
from crm.core.types import utcnow
from crm.events.localtime import local_day_bounds
from crm.events.models import (
    Ballot,
    Event,
    EventKind,
    Meeting,
    Motion,
    MotionStatus,
    VoteChannel,
    VoteChoice,
    VoteParticipation,  # fmt: skip
)
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership


class VoteRefused(Exception):
    """Why a vote or AGM step changed nothing, in words for the person."""


def meeting_for(event: Event) -> Meeting | None:
    return db.session.get(Meeting, event.id)


def hold_agm(event: Event) -> Meeting:
    """Make the event an AGM (idempotent)."""
    meeting = meeting_for(event)
    if meeting is None:
        event.kind = EventKind.AGM
        meeting = Meeting(event_id=event.id)
        db.session.add(meeting)
        db.session.flush()
        audit.record("agm.create", target_type="event", target_id=event.id)
    return meeting


def set_motions_open(meeting: Meeting, is_open: bool) -> None:
    meeting.motions_open = is_open
    db.session.flush()
    audit.record(
        "agm.motions_open" if is_open else "agm.motions_close",
        target_type="event",
        target_id=meeting.event_id,
    )


def submit_motion(meeting: Meeting, contact_id: int, *, title: str, text: str) -> Motion:
    if not meeting.motions_open:
        raise VoteRefused(gettext("Motions are not open for this meeting."))
    if not lifecycle.has_access(contact_id):
        raise VoteRefused(gettext("Only members with a current membership can submit motions."))
    motion = Motion(meeting_id=meeting.event_id, title=title, text_markdown=text, text_html=render_markdown(text),
                    proposer_contact_id=contact_id)  # fmt: skip
    db.session.add(motion)
    db.session.flush()
    audit.record("agm.motion_submit", target_type="agm_motion", target_id=motion.id, contact_id=contact_id,
                 detail=title)  # fmt: skip
    return motion


def translate_motion(motion: Motion, *, title_es: str, text_es: str) -> None:
    """The motion in Spanish, written by staff: Spanish readers see it (blank: the English)."""
    motion.title_es = title_es.strip()
    motion.text_markdown_es = text_es.strip()
    motion.text_html_es = render_markdown(motion.text_markdown_es) if motion.text_markdown_es else ""
    db.session.flush()
    audit.record(
        "agm.motion_translate", target_type="agm_motion", target_id=motion.id, detail=motion.title_es
    )


def decide_motion(motion: Motion, *, accepted: bool) -> None:
    if motion.meeting.agenda_published_at is not None:
        raise VoteRefused("The agenda is published: motions on it can no longer change.")
    motion.status = MotionStatus.ACCEPTED if accepted else MotionStatus.REJECTED
    db.session.flush()
    audit.record("agm.motion_decide", target_type="agm_motion", target_id=motion.id, detail=motion.status)


def agenda(meeting: Meeting) -> list[Motion]:
    return [m for m in meeting.motions if m.status == MotionStatus.ACCEPTED]


def publish_agenda(meeting: Meeting) -> None:
    if not agenda(meeting):
        raise VoteRefused("Accept at least one motion before publishing the agenda.")
    meeting.agenda_published_at = meeting.agenda_published_at or utcnow()
    meeting.motions_open = False
    db.session.flush()
    audit.record("agm.agenda_publish", target_type="event", target_id=meeting.event_id)


def set_voting_window(
    meeting: Meeting, *, opens_at: datetime, closes_at: datetime, record_date: date
) -> None:
    if closes_at <= opens_at:
        raise VoteRefused("Voting must close after it opens.")
    if _votes_cast(meeting):
        raise VoteRefused("Votes have been cast: the window and record date can no longer change.")
    meeting.voting_opens_at, meeting.voting_closes_at, meeting.record_date = opens_at, closes_at, record_date
    db.session.flush()
    audit.record("agm.voting_window", target_type="event", target_id=meeting.event_id,
                 after={"opens": opens_at.isoformat(), "closes": closes_at.isoformat(),
                        "record_date": record_date.isoformat()})  # fmt: skip


def _votes_cast(meeting: Meeting) -> int:
    return int(db.session.scalar(select(func.count()).select_from(VoteParticipation).join(Motion).where(
        Motion.meeting_id == meeting.event_id)) or 0)  # fmt: skip


def voting_is_open(meeting: Meeting, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return bool(meeting.agenda_published_at and meeting.voting_opens_at and meeting.voting_closes_at
                and meeting.voting_opens_at <= now < meeting.voting_closes_at)  # fmt: skip


def voting_has_closed(meeting: Meeting, now: datetime | None = None) -> bool:
    return bool(meeting.voting_closes_at and (now or utcnow()) >= meeting.voting_closes_at)


def is_eligible(meeting: Meeting, contact_id: int) -> bool:
    """A member in good standing at the end of the record date (UK day); in grace counts when
    AGM_ELIGIBLE_IN_GRACE (default true), as the constitution says."""
    if meeting.record_date is None:
        return False
    _, end = local_day_bounds(meeting.record_date)
    include_grace = bool(current_app.config.get("AGM_ELIGIBLE_IN_GRACE", True))
    return lifecycle.was_in_good_standing(contact_id, end, include_grace=include_grace)


def eligible_count(meeting: Meeting) -> int:
    contact_ids = db.session.scalars(select(Membership.contact_id).distinct()).all()
    return sum(1 for cid in contact_ids if is_eligible(meeting, cid))


def has_voted(motion: Motion, contact_id: int) -> bool:
    return db.session.scalar(select(VoteParticipation.id).where(
        VoteParticipation.motion_id == motion.id, VoteParticipation.contact_id == contact_id)) is not None  # fmt: skip


def cast_vote(motion: Motion, contact_id: int, choice: str, *, channel: str = VoteChannel.ONLINE,
              entered_by: Any = None) -> None:  # fmt: skip
    """One vote per eligible member per motion, in the window; anything else raises VoteRefused."""
    meeting = motion.meeting
    if motion.status != MotionStatus.ACCEPTED or meeting.agenda_published_at is None:
        raise VoteRefused(gettext("This motion is not on the published agenda."))
    if choice not in set(VoteChoice):
        raise VoteRefused(gettext("Choose for, against or abstain."))
    if not voting_is_open(meeting):
        raise VoteRefused(
            gettext("Voting has closed.")
            if voting_has_closed(meeting)
            else gettext("Voting has not opened yet.")
        )
    if not is_eligible(meeting, contact_id):
        raise VoteRefused(gettext("Only members in good standing on the record date can vote."))
    if has_voted(motion, contact_id):
        raise VoteRefused(gettext("You have already voted on this motion: a vote cannot be changed."))
    try:
        with db.session.begin_nested():
            db.session.add(VoteParticipation(motion_id=motion.id, contact_id=contact_id, channel=channel,
                                             entered_by_id=getattr(entered_by, "id", None)))  # fmt: skip
    except IntegrityError:  # the same vote sent twice at once: the unique constraint keeps one
        raise VoteRefused(
            gettext("You have already voted on this motion: a vote cannot be changed.")
        ) from None
    db.session.add(Ballot(motion_id=motion.id, choice=choice, channel=channel))
    db.session.flush()
    audit.record("agm.vote", target_type="agm_motion", target_id=motion.id, contact_id=contact_id,
                 detail=f"{channel} vote recorded", actor=entered_by)  # fmt: skip


@dataclass(frozen=True)
class Result:
    motion: Motion
    counts: dict[str, int]
    by_channel: dict[str, int]
    votes: int
    eligible: int

    @property
    def turnout_percent(self) -> int:
        return round(100 * self.votes / self.eligible) if self.eligible else 0

    @property
    def carried(self) -> bool:
        return self.counts.get(VoteChoice.FOR, 0) > self.counts.get(VoteChoice.AGAINST, 0)


def results(meeting: Meeting) -> list[Result]:
    """The tallies (only once voting has closed: nobody reads a running count)."""
    if not voting_has_closed(meeting):
        return []
    eligible = eligible_count(meeting)
    out = []
    for motion in agenda(meeting):
        rows = db.session.execute(select(Ballot.choice, Ballot.channel, func.count()).where(
            Ballot.motion_id == motion.id).group_by(Ballot.choice, Ballot.channel)).all()  # fmt: skip
        counts: dict[str, int] = {c: 0 for c in VoteChoice}
        by_channel: dict[str, int] = {c: 0 for c in VoteChannel}
        for choice, channel, n in rows:
            counts[choice] += n
            by_channel[channel] += n
        out.append(Result(motion, counts, by_channel, sum(counts.values()), eligible))
    return out


def publish_results(meeting: Meeting) -> None:
    if not voting_has_closed(meeting):
        raise VoteRefused("Results can be published once voting has closed.")
    meeting.results_published_at = meeting.results_published_at or utcnow()
    db.session.flush()
    audit.record("agm.results_publish", target_type="event", target_id=meeting.event_id)


def participation(meeting: Meeting) -> list[VoteParticipation]:
    """Who voted (never how), for staff."""
    return list(db.session.scalars(select(VoteParticipation).join(Motion).where(
        Motion.meeting_id == meeting.event_id).order_by(VoteParticipation.motion_id, VoteParticipation.voted_at)))  # fmt: skip


def open_votes_for(contact_id: int) -> list[Motion]:
    """Motions the contact can vote on now (for "Vote now" on the member home)."""
    meetings = db.session.scalars(select(Meeting).where(Meeting.agenda_published_at.is_not(None),
                                                        Meeting.voting_closes_at > utcnow())).all()  # fmt: skip
    return [m for meeting in meetings if voting_is_open(meeting) and is_eligible(meeting, contact_id)
            for m in agenda(meeting) if not has_voted(m, contact_id)]  # fmt: skip
