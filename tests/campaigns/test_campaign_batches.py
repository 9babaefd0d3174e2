"""A campaign batch: one rendering shared by its recipients, yet each email is that person's own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from crm.audiences import services as audiences
from crm.campaigns import sending, services
from crm.email.sender import MEMORY_OUTBOX
from crm.email.services import read_unsubscribe_token
from crm.extensions import db
from tests.fixtures import make_contact


@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def _campaign(staff_user, people: int, area: str):  # type: ignore[no-untyped-def]
    for n in range(people):
        make_contact(
            f"{area}{n}@example.org", first_name=f"Person {n}", postcode=f"{area}1 6AN", email_consent=True
        )
    audience = audiences.save_audience(f"Area {area}", {"postcode_areas": [area]}, actor=staff_user)
    campaign = services.save_draft(None, subject="AGM", preheader="", body="Come **along**.", purpose="news",
                                   audience_id=audience.id, post_id=None, actor=staff_user)  # fmt: skip
    db.session.commit()
    services.confirm_send(campaign, count_seen=people, when_uk=None, actor=staff_user)
    db.session.commit()
    return campaign


def test_each_email_of_a_batch_has_its_own_name_escaped_language_and_unsubscribe_link(app, staff_user):
    make_contact("ana@example.org", first_name="Ana <b>&", postcode="E2 8AA", email_consent=True,
                 preferred_language="es")  # fmt: skip
    make_contact("ben@example.org", first_name="Ben", postcode="E3 1AB", email_consent=True)
    make_contact("nameless@example.org", first_name="", postcode="E5 1AA", email_consent=True)
    audience = audiences.save_audience("East", {"postcode_areas": ["E"]}, actor=staff_user)
    campaign = services.save_draft(None, subject="AGM", preheader="", body="Come **along**.", purpose="news",
                                   audience_id=audience.id, post_id=None, actor=staff_user)  # fmt: skip
    db.session.commit()
    services.confirm_send(campaign, count_seen=3, when_uk=None, actor=staff_user)
    db.session.commit()
    app.config["CAMPAIGN_BATCH"] = 10  # all three in one batch
    assert sending.send_campaign(campaign.id) == "sent"
    mail = {str(m["To"]): m for m in MEMORY_OUTBOX}
    assert sorted(mail) == ["ana@example.org", "ben@example.org", "nameless@example.org"]
    for to, message in mail.items():
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        link = message["List-Unsubscribe"].strip("<>").removesuffix("/one-click")
        assert link in text and link in html  # the footer link is the header's, this person's own
        found = read_unsubscribe_token(link.rsplit("/", 1)[1])
        assert found is not None and found[0].email == to and found[1] == ("news",)
        assert "<strong>along</strong>" in html and "crm-slot" not in text + html
    ana_text = mail["ana@example.org"].get_body(preferencelist=("plain",)).get_content()
    ana_html = mail["ana@example.org"].get_body(preferencelist=("html",)).get_content()
    assert "Hola, Ana <b>&:" in ana_text and "Hola, Ana &lt;b&gt;&amp;:" in ana_html
    assert "Dear Ben," in mail["ben@example.org"].get_body(preferencelist=("plain",)).get_content()
    nameless = mail["nameless@example.org"].get_body(preferencelist=("plain",)).get_content()
    assert "Dear" not in nameless and "Hola" not in nameless


def test_queuing_a_batch_costs_the_same_statements_for_ten_recipients_as_for_two(app, staff_user):
    app.config["MAIL_SEND_AFTER_COMMIT"] = False  # the queuing only, not the delivery after it
    counts = []
    for people, area in ((2, "E"), (10, "W")):
        campaign = _campaign(staff_user, people, area)
        app.config["CAMPAIGN_BATCH"] = people
        sending._write_recipients(campaign, people)
        shared = services.email_context(campaign)
        with _statements() as seen:
            assert sending._hand_over_batch(campaign, people, shared) == people
        counts.append(len(seen))
    assert counts[0] == counts[1]
