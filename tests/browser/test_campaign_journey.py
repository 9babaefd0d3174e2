"""Issue 21, done when: a supporter subscribes choosing news but not appeals; staff build the audience
"subscribers and lapsed members in postcode areas N and E who want news", see its live count, start a
campaign from a news post, send a test to themselves and confirm; each recipient gets exactly one
email, through a real SMTP server (aiosmtpd) on loopback, with a working one-click unsubscribe; an
unsubscribed and a suppressed address get nothing the next time; the report adds up."""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.joining import unique_email
from tests.browser.journey import Journey
from tests.browser.live import LiveApp, postgres_database, start_live_app
from tests.browser.people import link_in, make_member, make_staff, sign_in
from tests.email.smtp_server import SMTPServer

POST = "Delegation report: the Altiplano Norte, October 2026"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture(scope="module")
def live(
    browser_ready: None, smtp: SMTPServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApp]:
    """This module's own app, mailing through the SMTP server (sending paced fast, for the test)."""
    import os

    settings = {**smtp.app_config(), "MAIL_BACKEND": "smtp", "CAMPAIGN_RATE_PER_MINUTE": 60_000}
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        with postgres_database(base, label="campaign") as url:
            server = start_live_app(url, **settings)
            try:
                yield server
            finally:
                server.stop()
        return
    server = start_live_app(f"sqlite:///{tmp_path_factory.mktemp('campaign-db') / 'crm.db'}", **settings)
    try:
        yield server
    finally:
        server.stop()


def _text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return str(part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8"))
    raise AssertionError(f"no text part in {message['Subject']}")


def _mail(
    smtp: SMTPServer, subject: str, expected: int | None = None, timeout: float = 15.0
) -> list[Message]:
    """The messages with this subject the SMTP server accepted (waiting for `expected` of them)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in smtp.handler.accepted if str(m["Subject"]) == subject]
        if expected is None and found or expected is not None and len(found) >= expected:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} email(s) with subject {subject!r}, expected {expected}")
        time.sleep(0.2)


def _to(messages: list[Message]) -> Counter[str]:
    return Counter(str(m["To"]) for m in messages)


def _lapsed_member_who_wants(trip: Journey, name: str, postcode: str, purposes: tuple[str, ...]) -> str:
    """A lapsed member whose join form said yes to `purposes` by email (the consent module, as at join)."""
    from crm.contacts import consent
    from crm.contacts.models import Contact

    email = unique_email(name, trip)
    contact_id = make_member(trip, email, status="lapsed", paid_days=-60, auto_renew=False, postcode=postcode)
    with trip.live.db() as session:
        contact = session.get(Contact, contact_id)
        org = trip.live.app.config["ORG_NAME"]
        for purpose in purposes:
            consent.record_consent(
                contact, "email", purpose, True, source="join", wording=consent.wording(purpose, org)
            )
        session.commit()
    return email


def _subscribe(trip: Journey, smtp: SMTPServer, email: str) -> None:
    """/subscribe with news ticked and appeals not, then the emailed confirmation link."""
    page = trip.page
    trip.goto("/subscribe")
    page.get_by_label("First name").fill("Nadia")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Postcode").fill("n1 9gu")
    page.get_by_label("News and updates").check()
    expect(page.get_by_label("Fundraising appeals")).not_to_be_checked()
    trip.check("subscribe form, news only")
    trip.follow(page.locator("main").get_by_role("button", name="Sign up"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Check your email")
    deadline = time.monotonic() + 15
    while not (mine := [m for m in smtp.handler.accepted if str(m["To"]) == email]):
        assert time.monotonic() < deadline, "no confirmation email"
        time.sleep(0.2)
    trip.goto(link_in(_text(mine[-1]), "/subscribe/confirm/"))
    trip.follow(page.get_by_role("button", name="Yes, send me updates"))
    expect(page.locator("main")).to_contain_text("You are signed up")


def _one_click_unsubscribe(message: Message, base_url: str) -> int:
    """What a mail client does with RFC 8058 headers: POST List-Unsubscribe=One-Click to the URL."""
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    url = str(message["List-Unsubscribe"]).strip("<>")
    assert url.startswith(base_url + "/email/unsubscribe/"), url
    request = urllib.request.Request(  # noqa: S310 (this app, on loopback: checked above)
        url, data=b"List-Unsubscribe=One-Click", method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return int(response.status)


def _figures(trip: Journey) -> dict[str, int]:
    terms = trip.page.locator("dl.figures dt").all_inner_texts()
    values = trip.page.locator("dl.figures dd").all_inner_texts()
    return {t.strip(): int(v.replace(",", "")) for t, v in zip(terms, values, strict=True)}


def _campaign_from_post(trip: Journey, subject: str, audience: str) -> int:
    """From the news editor to a saved draft: returns the count the draft page shows."""
    page = trip.page
    trip.goto("/staff/news")
    trip.follow(page.locator("main").get_by_role("link", name=POST))
    trip.follow(page.get_by_role("link", name="Start a campaign from this post"))
    expect(page.get_by_label("Subject", exact=True)).to_have_value(POST)
    page.get_by_label("Subject", exact=True).fill(subject)
    page.get_by_label("Audience").select_option(label=audience)
    expect(page.get_by_role("radio", name="News and updates")).to_be_checked()
    trip.follow(page.get_by_role("button", name="Save draft"))
    trip.expect_success("Draft saved")
    status = page.get_by_role("status").filter(has_text="It would go to")
    return int(re.search(r"go to ([\d,]+) people", status.inner_text()).group(1).replace(",", ""))  # type: ignore[union-attr]


def _confirm(trip: Journey, count: int, name: str) -> None:
    page = trip.page
    trip.follow(page.get_by_role("link", name="Send…"))
    expect(page.locator("main")).to_contain_text(f"This email will go to {count:,} people")
    trip.check(name)
    trip.follow(page.get_by_role("button", name=f"Yes, send to {count:,} people"))
    trip.expect_success(f"Sending to {count:,} people")


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_a_campaign_reaches_each_consenting_supporter_once_and_unsubscribe_and_suppression_hold(
    journey: Journey, smtp: SMTPServer
) -> None:
    from crm.demo import DEMO_PASSWORD

    trip, page = journey, journey.page
    subscriber = unique_email("subscriber", trip)
    supporter = trip.other_browser("supporter")
    _subscribe(supporter, smtp, subscriber)
    supporter.watch.assert_clean()
    supporter.close()
    lapsed_e = _lapsed_member_who_wants(trip, "lapsed-e", "E2 8AA", ("news",))
    lapsed_n = _lapsed_member_who_wants(trip, "lapsed-n", "N4 2DA", ("news",))
    outsiders = [
        _lapsed_member_who_wants(trip, "lapsed-m", "M1 1AE", ("news",)),  # outside N and E
        _lapsed_member_who_wants(trip, "lapsed-appeals", "E3 4RS", ("appeals",)),  # no news consent
        _lapsed_member_who_wants(trip, "lapsed-ne", "NE1 4ST", ("news",)),  # NE is not N
    ]
    active_n = unique_email("active-n", trip)
    make_member(trip, active_n, postcode="N1 2AB")  # a current member: not in this audience
    outsiders.append(active_n)

    staff_email = unique_email("staff", trip)
    secret = make_staff(trip, staff_email, "staff")
    sign_in(trip, staff_email, DEMO_PASSWORD, totp_secret=secret)

    # The audience, with its count shown live (the small same-origin script, under the CSP).
    trip.goto("/staff/audiences")
    live_count = page.locator("#audience-count")
    before = live_count.inner_text()
    builder = page.locator("#audience-builder")
    builder.get_by_label("No membership").check()
    builder.get_by_label("Lapsed").check()
    builder.get_by_label("News and updates by email").check()
    builder.get_by_label("Postcode areas").fill("N, E")
    builder.get_by_label("Postcode areas").blur()
    expect(live_count).not_to_have_text(before)  # counted by the script, before any submit
    expect(live_count).not_to_have_attribute("aria-busy", "true")  # the answer to the last change
    expect(live_count).to_have_text(re.compile(r"^[\d,]+ contacts? match(es)?$"))
    counted_live = live_count.inner_text()
    trip.follow(builder.get_by_role("button", name="Count who matches"))
    expect(live_count).to_have_text(counted_live)  # the page without the script says the same
    audience_count = int(counted_live.split()[0].replace(",", ""))
    trip.check("audience builder with its count")
    audience = f"North and east news {uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(audience)
    trip.follow(page.get_by_role("button", name="Save this audience"))
    trip.expect_success("saved")
    expect(page.get_by_role("status").filter(has_text="match now")).to_have_text(f"{counted_live} now.")

    # A campaign from a news post: a test to myself first, then the confirmed number.
    subject = f"{POST} [{uuid.uuid4().hex[:6]}]"
    count = _campaign_from_post(trip, subject, audience)
    assert count == audience_count  # everyone in it consents to news by email and nobody is suppressed
    trip.check("campaign draft with its preview")
    trip.follow(page.get_by_role("button", name="Send a test to myself"))
    trip.expect_success("test copy")
    test_copy = _mail(smtp, f"[Test] {subject}", 1)
    assert _to(test_copy) == {staff_email: 1}
    _confirm(trip, count, "confirmation naming the number")

    first = _mail(smtp, subject, count)
    time.sleep(1)  # nothing more arrives: no second copies
    first = _mail(smtp, subject)
    recipients = _to(first)
    assert len(first) == count and set(recipients.values()) == {1}, recipients
    assert {subscriber, lapsed_e, lapsed_n} <= set(recipients)
    assert not set(outsiders) & set(recipients)
    trip.goto(page.url)
    expect(page.get_by_role("status").filter(has_text="Status:")).to_contain_text("Sent")
    report = _figures(trip)
    assert report["Recipients"] == report["Sent"] == count
    assert report["Failed"] == report["Waiting"] == report["Queued"] == report["Skipped"] == 0

    # The subscriber's mail client unsubscribes in one click; staff suppress another address.
    by_address = {str(m["To"]): m for m in first}
    assert "/email/unsubscribe/" in _text(by_address[subscriber])
    assert _one_click_unsubscribe(by_address[subscriber], trip.live.url) == 204
    trip.goto(page.url)
    report = _figures(trip)
    assert report["Unsubscribed"] == 1 and report["Sent"] == count
    trip.check("campaign report")

    trip.goto("/staff/suppressions")
    page.get_by_label("Email address").fill(lapsed_n)
    page.get_by_label("Why").fill("Asked on the phone for no more campaign email")
    trip.follow(page.get_by_role("button", name="Add to the list"))
    trip.expect_success("Added to the suppression list")

    # The next campaign to the same audience leaves both of them out.
    second_subject = f"{POST} [{uuid.uuid4().hex[:6]}]"
    second_count = _campaign_from_post(trip, second_subject, audience)
    assert second_count == count - 2
    _confirm(trip, second_count, "second confirmation")
    _mail(smtp, second_subject, second_count)
    time.sleep(1)
    second = _to(_mail(smtp, second_subject))
    assert set(second) == set(recipients) - {subscriber, lapsed_n} and set(second.values()) == {1}
    trip.goto(page.url)
    report = _figures(trip)
    assert report["Recipients"] == report["Sent"] == second_count and report["Failed"] == 0
    everything = _to([m for m in smtp.handler.accepted if str(m["Subject"]) in (subject, second_subject)])
    assert everything[subscriber] == everything[lapsed_n] == 1 and everything[lapsed_e] == 2
    trip.check("second campaign report")
    _keep_for_readme(trip.artifacts)


#: Screenshots the README shows (docs/screenshots/), from this journey's artifacts.
README_SHOTS = {"audience-builder": "campaign-audience.png", "confirmation-naming": "campaign-confirm.png",
                "campaign-report": "campaign-report.png"}  # fmt: skip


def _keep_for_readme(artifacts: Path) -> None:
    """With CRM_UPDATE_SCREENSHOTS=1, copy the README's campaign pictures to docs/screenshots/."""
    import os
    import shutil

    if os.environ.get("CRM_UPDATE_SCREENSHOTS") != "1":
        return
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    for shot in sorted(artifacts.glob("*.png")):
        for fragment, name in README_SHOTS.items():
            if re.fullmatch(rf"\d+-{fragment}.*\.png", shot.name):
                shutil.copyfile(shot, out / name)
