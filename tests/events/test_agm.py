"""The AGM vote: eligibility from the membership history, one secret vote per member per motion,
every refusal changes nothing and says why, results with turnout, staff see who voted not how."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import func, inspect, select

from crm.audit.models import AuditEvent
from crm.core.types import utcnow
from crm.events import agm
from crm.events.localtime import to_local
from crm.events.models import Ballot, Motion, VoteParticipation
from crm.extensions import db
from crm.memberships import lifecycle
from tests.events.conftest import make_event
from tests.fixtures import make_user, sign_in_as
from tests.memberships.factories import make_plan


def member(email: str, *, lapsed: bool = False):  # type: ignore[no-untyped-def]
    user = make_user(email, "member", first_name=email.split("@")[0].title(), last_name="Member")
    membership = lifecycle.grant_complimentary(user.contact, make_plan(f"p-{email[:6]}"), actor=None)
    if lapsed:
        lifecycle.lapse(membership, reason="test: did not renew")
    db.session.commit()
    return user


def meeting_with_open_vote():  # type: ignore[no-untyped-def]
    """An AGM taken through the steps staff take: motions, agenda, window (record date today)."""
    event = make_event("Annual General Meeting", kind="agm")
    meeting = agm.hold_agm(event)
    agm.set_motions_open(meeting, True)
    proposer = member("proposer@example.org")
    motion = agm.submit_motion(
        meeting, proposer.contact_id, title="Campaign for land rights", text="We **resolve**."
    )
    agm.decide_motion(motion, accepted=True)
    agm.publish_agenda(meeting)
    now = utcnow()
    agm.set_voting_window(meeting, opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(days=1),
                          record_date=to_local(now).date())  # fmt: skip
    db.session.commit()
    return event, meeting, motion


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(VoteParticipation)),
            db.session.scalar(select(func.count()).select_from(Ballot)))  # fmt: skip


def vote(client, motion: Motion, choice: str = "for", **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/agm/motions/{motion.id}/vote", data={"choice": choice, **extra}, follow_redirects=True
    )


def test_two_members_vote_a_lapsed_one_cannot_and_results_show_turnout(app, client):
    event, meeting, motion = meeting_with_open_vote()
    ana, ben = member("ana@example.org"), member("ben@example.org")
    lapsed = member("lee@example.org", lapsed=True)
    for user, choice in ((ana, "for"), (ben, "against")):
        sign_in_as(client, user)
        assert "is recorded" in vote(client, motion, choice).get_data(as_text=True)
    sign_in_as(client, lapsed)
    page = vote(client, motion).get_data(as_text=True)
    assert "Only members in good standing on the record date can vote." in page
    assert counts() == (2, 2)
    with time_machine.travel(utcnow() + timedelta(days=2)):
        agm.publish_results(meeting)
        db.session.commit()
        sign_in_as(client, ana)
        html = client.get(f"/agm/{event.id}").get_data(as_text=True)
    # Eligible: the proposer, Ana and Ben (Lee had lapsed by the record date).
    assert "For 1 · Against 1 · Abstain 0" in html and "2 votes of 3 eligible members: turnout 67%" in html


def test_a_second_vote_a_replayed_form_and_a_vote_forged_for_another_member_change_nothing(app, client):
    _, _, motion = meeting_with_open_vote()
    ana, ben = member("ana@example.org"), member("ben@example.org")
    sign_in_as(client, ana)
    vote(client, motion, "for", contact_id=str(ben.contact_id))  # an extra field naming Ben is ignored
    assert db.session.scalar(select(VoteParticipation.contact_id)) == ana.contact_id
    again = vote(client, motion, "against").get_data(as_text=True)
    assert "You have already voted on this motion" in again
    assert "You have already voted" in vote(client, motion, "for").get_data(
        as_text=True
    )  # the same form replayed
    assert counts() == (1, 1)
    assert db.session.scalar(select(Ballot.choice)) == "for"


def test_a_vote_after_the_window_or_by_a_non_member_changes_nothing(app, client):
    _, _, motion = meeting_with_open_vote()
    ana = member("ana@example.org")
    visitor = make_user("nobody@example.org", "member")
    sign_in_as(client, visitor)
    assert "Only members in good standing" in vote(client, motion).get_data(as_text=True)
    with time_machine.travel(utcnow() + timedelta(days=2)):
        sign_in_as(client, ana)
        assert "Voting has closed." in vote(client, motion).get_data(as_text=True)
    assert counts() == (0, 0)


def test_ballots_hold_no_voter_and_staff_see_who_voted_not_how(app, client, staff_client):
    event, _, motion = meeting_with_open_vote()
    assert {c["name"] for c in inspect(db.engine).get_columns("agm_ballot")} == {
        "id",
        "motion_id",
        "choice",
        "channel",
    }
    ana = member("ana@example.org")
    staff_page = staff_client.post(f"/staff/events/{event.id}/agm/motions/{motion.id}/staff-vote",
                                   data={"member_email": "ana@example.org", "choice": "against", "channel": "proxy"},
                                   follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "proxy vote recorded" in staff_page
    page = staff_client.get(f"/staff/events/{event.id}/agm").get_data(as_text=True)
    voters = page.split('<table class="voters">')[1].split("</table>")[0]
    assert "Ana Member" in voters and "proxy" in voters
    assert "against" not in voters.lower() and "The results show here when voting has closed." in page
    assert db.session.scalar(select(VoteParticipation.channel)) == "proxy"
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {
        "agm.create",
        "agm.motion_submit",
        "agm.agenda_publish",
        "agm.voting_window",
        "agm.vote",
    } <= actions
    assert all("against" not in (e.detail or "") for e in db.session.scalars(select(AuditEvent)))
    assert ana.contact_id


def test_eligibility_is_read_on_the_record_date_from_the_history(app):
    user = member("ana@example.org")
    with time_machine.travel(utcnow() + timedelta(days=40)):
        membership = lifecycle.current_membership(user.contact_id)
        lifecycle.lapse(membership, reason="test")
        db.session.commit()
    assert lifecycle.was_in_good_standing(user.contact_id, utcnow() + timedelta(days=1))
    assert not lifecycle.was_in_good_standing(user.contact_id, utcnow() + timedelta(days=41))
    assert not lifecycle.was_in_good_standing(user.contact_id, utcnow() - timedelta(days=1))
