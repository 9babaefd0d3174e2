"""A campaign goes once to each consenting, unsuppressed person in its audience, even across a crash."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from crm.audiences import services as audiences
from crm.audiences.models import Audience
from crm.audit.models import AuditEvent
from crm.campaigns import sending, services
from crm.campaigns.models import CampaignRecipient
from crm.contacts import consent
from crm.email.models import OutboxMessage
from crm.email.sender import MEMORY_OUTBOX
from crm.extensions import db
from tests.fixtures import make_contact


def _people() -> None:
    make_contact("n1@example.org", postcode="N1 9GU", email_consent=True)
    make_contact("e2@example.org", postcode="E2 8AA", email_consent=True)
    make_contact("e3@example.org", postcode="E3 1AB", email_consent=True)
    make_contact("nw@example.org", postcode="NW1 2AB", email_consent=True)  # area NW, not N
    make_contact("nope@example.org", postcode="N7 1AA")  # no consent
    make_contact("appeals@example.org", postcode="N8 1AA", appeals_consent=True)  # appeals only
    gone = make_contact("bounced@example.org", postcode="E5 1AA", email_consent=True)
    consent.suppress(gone.email, "hard_bounce")
    db.session.commit()


def _campaign(staff_user, **filters):  # type: ignore[no-untyped-def]
    audience = audiences.save_audience(
        "North and east", {"postcode_areas": ["N", "E"], **filters}, actor=staff_user
    )
    campaign = services.save_draft(None, subject="Delegation report", preheader="What we saw", body="# Hello\n\nRead **this**.\n\n<script>alert(1)</script>",
                                   purpose="news", audience_id=audience.id, post_id=None, actor=staff_user)  # fmt: skip
    db.session.commit()
    return campaign


def _inbox() -> Counter[str]:
    return Counter(str(m["To"]) for m in MEMORY_OUTBOX)


def test_count_is_after_consent_and_suppression_and_each_gets_one_email(app, staff_user):
    _people()
    campaign = _campaign(staff_user)
    audience = db.session.get(Audience, campaign.audience_id)
    # everyone in N and E (the staff member's own contact lives in N1 too), consent or not
    assert audiences.count(audience) == 7
    assert services.recipient_count(campaign) == 3
    services.confirm_send(campaign, count_seen=3, when_uk=None, actor=staff_user)
    db.session.commit()
    assert sending.send_campaign(campaign.id) == "sent"
    assert _inbox() == {"n1@example.org": 1, "e2@example.org": 1, "e3@example.org": 1}
    message = MEMORY_OUTBOX[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<http://crm.test/email/unsubscribe/")
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<strong>this</strong>" in html and "<script>" not in html and "What we saw" in html
    report = services.report(campaign)
    assert (report.recipients, report.sent, report.failed, report.skipped) == (3, 3, 0, 0)
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.send")).one()
    # run again: nothing more goes
    assert sending.send_campaign(campaign.id) == "sent"
    assert sum(_inbox().values()) == 3


def test_a_crash_between_batches_resumes_without_a_second_copy(app, staff_user):
    _people()
    campaign = _campaign(staff_user)
    services.confirm_send(campaign, count_seen=3, when_uk=None, actor=staff_user)
    db.session.commit()
    # The first run dies after one batch of two (CAMPAIGN_BATCH=2): the worker is gone.
    assert sending.send_campaign(campaign.id, max_batches=1) == "sending"
    assert sum(_inbox().values()) == 2
    assert db.session.scalar(select(func.count()).select_from(CampaignRecipient)) == 3
    # A new worker picks the job up again, and a duplicate job runs too.
    assert sending.send_campaign(campaign.id) == "sent"
    assert sending.send_campaign(campaign.id) == "sent"
    assert _inbox() == {"n1@example.org": 1, "e2@example.org": 1, "e3@example.org": 1}
    assert (
        db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "campaign")
        )
        == 3
    )


def test_unsubscribed_with_one_click_and_suppressed_people_get_nothing_next_time(app, client, staff_user):
    _people()
    campaign = _campaign(staff_user)
    services.confirm_send(campaign, count_seen=3, when_uk=None, actor=staff_user)
    db.session.commit()
    sending.send_campaign(campaign.id)
    first = next(m for m in MEMORY_OUTBOX if str(m["To"]) == "n1@example.org")
    url = first["List-Unsubscribe"].strip("<>").removeprefix("http://crm.test")
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 204
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 204  # replay: no change
    consent.suppress("e2@example.org", "complaint")
    db.session.commit()
    assert services.report(campaign).unsubscribed == 1
    second = services.save_draft(None, subject="AGM", preheader="", body="Come", purpose="news",
                                 audience_id=campaign.audience_id, post_id=None, actor=staff_user)  # fmt: skip
    assert services.recipient_count(second) == 1
    services.confirm_send(second, count_seen=1, when_uk=None, actor=staff_user)
    db.session.commit()
    MEMORY_OUTBOX.clear()
    sending.send_campaign(second.id)
    assert _inbox() == {"e3@example.org": 1}


def test_an_audience_matching_nobody_cannot_be_sent(app, staff_user):
    _people()
    campaign = _campaign(staff_user, sources=["subscribe"])
    assert services.recipient_count(campaign) == 0
    with pytest.raises(services.CampaignError, match="matches nobody"):
        services.confirm_send(campaign, count_seen=0, when_uk=None, actor=staff_user)


def test_deleting_the_audience_of_a_scheduled_campaign_stops_it(app, staff_user):
    from datetime import datetime, timedelta

    _people()
    campaign = _campaign(staff_user)
    services.confirm_send(
        campaign, count_seen=3, when_uk=datetime.now() + timedelta(days=1), actor=staff_user
    )
    db.session.commit()
    audiences.delete_audience(db.session.get(Audience, campaign.audience_id), actor=staff_user)
    db.session.commit()
    db.session.refresh(campaign)
    assert campaign.status == "stopped" and "was deleted" in campaign.stop_reason
    assert sending.send_campaign(campaign.id) == "stopped"
    assert MEMORY_OUTBOX == []


@pytest.mark.parametrize(
    ("subject", "body", "message"),
    [
        ("x" * 201, "b", "subject is too long"),
        ("", "b", "Give the campaign a subject"),
        ("s", "b" * 100_001, "message is too long"),
    ],
)
def test_over_size_or_empty_campaigns_are_refused(app, staff_user, subject, body, message):
    with pytest.raises(services.CampaignError, match=message):
        services.save_draft(None, subject=subject, preheader="", body=body, purpose="news", audience_id=None,
                            post_id=None, actor=staff_user)  # fmt: skip


def test_a_scheduled_campaign_goes_when_its_uk_time_comes_through_the_command(app, runner, staff_user):
    from datetime import datetime, timedelta

    import time_machine

    _people()
    campaign = _campaign(staff_user)
    # 09:00 UK time on a summer day is 08:00 UTC
    services.confirm_send(campaign, count_seen=3, when_uk=datetime(2027, 7, 1, 9, 0), actor=staff_user)
    db.session.commit()
    assert campaign.scheduled_at.isoformat() == "2027-07-01T08:00:00+00:00"
    assert "0 campaigns started" in runner.invoke(args=["crm", "send-campaigns"]).output
    with time_machine.travel(campaign.scheduled_at + timedelta(minutes=1), tick=False):
        assert "1 campaign started" in runner.invoke(args=["crm", "send-campaigns"]).output
    assert sum(_inbox().values()) == 3


def test_merging_two_contacts_who_both_got_a_campaign_keeps_one_row_and_their_consents(app, staff_user):
    from crm.contacts.models import Contact
    from crm.staff.services import merge_contacts

    _people()
    campaign = _campaign(staff_user)
    services.confirm_send(campaign, count_seen=3, when_uk=None, actor=staff_user)
    db.session.commit()
    sending.send_campaign(campaign.id)
    kept = db.session.scalar(select(Contact).where(Contact.email == "e2@example.org"))
    other = db.session.scalar(select(Contact).where(Contact.email == "e3@example.org"))
    consent.record_consent(other, "email", "appeals", True, source="staff_phone", wording="Yes")
    db.session.commit()
    merge_contacts(kept, str(other.id), actor=staff_user)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(CampaignRecipient)) == 2
    state = consent.current_state(kept.id)
    assert state[("email", "news")] and state[("email", "appeals")]
