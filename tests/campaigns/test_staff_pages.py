"""The staff journey through the pages: build an audience, see its count, start a campaign from a
news post, send a test to yourself, confirm the number, read the report. Editors cannot send."""

from __future__ import annotations

from sqlalchemy import select

from crm.audiences.models import Audience
from crm.campaigns.models import Campaign
from crm.email.sender import MEMORY_OUTBOX
from crm.extensions import db
from crm.news.models import Post
from tests.fixtures import csrf_token, make_contact


def _post() -> Post:
    post = Post(slug="delegation", title="Delegation report", summary="What we saw", body_markdown="We **met** them.",
                body_html="<p>We <strong>met</strong> them.</p>", visibility="public", status="published")  # fmt: skip
    db.session.add(post)
    db.session.commit()
    return post


def test_build_count_save_campaign_from_post_test_confirm_and_report(app, staff_client, staff_user):
    make_contact("n1@example.org", postcode="N1 1AA", source="subscribe", email_consent=True)
    make_contact("e1@example.org", postcode="E1 1AA", source="subscribe", email_consent=True)
    make_contact("m1@example.org", postcode="M1 1AA", source="subscribe", email_consent=True)
    post = _post()
    query = "status=none&postcode_areas=N,+E&consent=email:news"
    page = staff_client.get(f"/staff/audiences?{query}").get_data(as_text=True)
    assert "2 contacts match" in page
    answer = staff_client.get(f"/staff/audiences/count?{query}").get_json()
    assert answer == {"count": 2, "problem": "", "text": "2 contacts match"}
    token = csrf_token(staff_client, "/staff/audiences")
    saved = staff_client.post("/staff/audiences", data={"csrf_token": token, "name": "North and east news",
                              "status": "none", "postcode_areas": "N, E", "consent": "email:news"})  # fmt: skip
    assert saved.status_code == 302
    audience = db.session.scalars(select(Audience)).one()

    new = staff_client.get(f"/staff/campaigns/new?post_id={post.id}").get_data(as_text=True)
    assert "Delegation report" in new and "We **met** them." in new
    staff_client.post("/staff/campaigns/new", data={"csrf_token": token, "subject": "Delegation report",
                      "preheader": "What we saw", "purpose": "news", "audience_id": audience.id,
                      "body": "We **met** them.", "post_id": post.id})  # fmt: skip
    campaign = db.session.scalars(select(Campaign)).one()
    edit = staff_client.get(f"/staff/campaigns/{campaign.id}").get_data(as_text=True)
    assert "<strong>met</strong>" in edit and "It would go to <strong>2</strong> people" in edit

    staff_client.post(f"/staff/campaigns/{campaign.id}/test", data={"csrf_token": token})
    assert [str(m["To"]) for m in MEMORY_OUTBOX] == ["staff@example.org"]
    assert str(MEMORY_OUTBOX[0]["Subject"]).startswith("[Test]")

    confirm = staff_client.get(f"/staff/campaigns/{campaign.id}/confirm").get_data(as_text=True)
    assert "Yes, send to 2 people" in confirm
    done = staff_client.post(f"/staff/campaigns/{campaign.id}/confirm",
                             data={"csrf_token": token, "count_seen": 2, "when": "now"}, follow_redirects=True)  # fmt: skip
    assert done.status_code == 200
    db.session.refresh(post)
    assert post.emailed_at is not None  # the news list says the post went out by email
    assert sorted(str(m["To"]) for m in MEMORY_OUTBOX[1:]) == ["e1@example.org", "n1@example.org"]
    report = staff_client.get(f"/staff/campaigns/{campaign.id}/report").get_data(as_text=True)
    assert "<dt>Recipients</dt><dd>2</dd>" in report and "<dt>Sent</dt><dd>2</dd>" in report


def test_a_count_that_changed_since_the_confirmation_page_is_not_sent(app, staff_client, staff_user):
    make_contact("n1@example.org", postcode="N1 1AA", email_consent=True)
    token = csrf_token(staff_client, "/staff/audiences")
    staff_client.post("/staff/audiences", data={"csrf_token": token, "name": "N", "postcode_areas": "N"})
    audience = db.session.scalars(select(Audience)).one()
    staff_client.post("/staff/campaigns/new", data={"csrf_token": token, "subject": "Hi", "purpose": "news",
                      "audience_id": audience.id, "body": "x"})  # fmt: skip
    campaign = db.session.scalars(select(Campaign)).one()
    page = staff_client.post(f"/staff/campaigns/{campaign.id}/confirm",
                             data={"csrf_token": token, "count_seen": 5, "when": "now"}).get_data(as_text=True)  # fmt: skip
    assert "changed to 1" in page
    db.session.refresh(campaign)
    assert campaign.status == "draft" and len(MEMORY_OUTBOX) == 0


def test_editors_draft_but_cannot_open_the_send_page(app, editor_client):
    assert editor_client.get("/staff/campaigns/new").status_code == 200
    assert editor_client.get("/staff/audiences").status_code == 403


def test_the_builder_names_statuses_in_words_and_says_how_to_get_tags_when_there_are_none(staff_client):
    page = staff_client.get("/staff/audiences").get_data(as_text=True)
    assert "Direct Debit pending" in page and "Direct_debit_pending" not in page
    assert "No tags yet: tag people from an audience's page or a member's page" in page
    assert "Count who matches" in page
    assert "News and updates by text messages (SMS)" in page


def test_an_empty_campaign_list_says_how_to_start_one(staff_client):
    page = staff_client.get("/staff/campaigns").get_data(as_text=True)
    assert "No campaigns yet. Build and save an audience under" in page
    assert 'href="/staff/audiences"' in page


def test_a_saved_audience_lists_its_conditions_in_the_builders_words(staff_client, staff_user):
    from crm.audiences import services as audiences

    audience = audiences.save_audience("North news", {"consent": ["email:news"], "postcode_areas": ["N", "E"],
                                                      "joined_from": "2025-04-01"}, actor=staff_user)  # fmt: skip
    db.session.commit()
    page = staff_client.get(f"/staff/audiences/{audience.id}").get_data(as_text=True)
    assert "<dt>Has consented to</dt><dd>News and updates by email</dd>" in page
    assert "<dt>Postcode areas (e.g. N, E, LS)</dt><dd>E, N</dd>" in page
    assert "<dt>Joined from</dt><dd>1 April 2025</dd>" in page
    assert "email:news" not in page


def test_a_scheduled_campaigns_report_says_its_figures_fill_in_once_sending_starts(staff_client, staff_user):
    from crm.audiences import services as audiences
    from crm.campaigns import services

    make_contact("n2@example.org", postcode="N1 1AA", source="subscribe", email_consent=True)
    audience = audiences.save_audience("News", {"consent": ["email:news"]}, actor=staff_user)
    campaign = services.save_draft(None, subject="Hello", preheader="", body="Hi.", purpose="news",
                                   audience_id=audience.id, post_id=None, actor=staff_user)  # fmt: skip
    services.confirm_send(campaign, count_seen=1, when_uk=None, actor=staff_user)
    db.session.commit()
    page = staff_client.get(f"/staff/campaigns/{campaign.id}/report").get_data(as_text=True)
    assert "Sending starts at the time above; these figures fill in as it goes." in page
