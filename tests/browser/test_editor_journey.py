"""An editor signs in with the second factor, reaches the news editor, and nothing else of staff's."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.joining import unique_email
from tests.browser.journey import Journey
from tests.browser.people import make_staff, sign_in

REFUSED = [
    "/staff",
    "/staff/members",
    "/staff/payments",
    "/staff/pages",
    "/staff/plans",
    "/staff/gift-aid",
    "/staff/import",
    "/staff/outbox",
    "/staff/audit",
]


def test_editor_reaches_the_news_editor_and_nothing_else(journey: Journey) -> None:
    from crm.demo import DEMO_PASSWORD

    trip, page = journey, journey.page
    email = unique_email("editor", trip)
    secret = make_staff(trip, email, "editor")
    sign_in(trip, email, DEMO_PASSWORD, totp_secret=secret, check=True)

    trip.goto("/staff/news")
    expect(page.get_by_role("heading", level=1)).to_have_text("News")
    trip.check("news list (editor)")

    trip.follow(page.locator("main").get_by_role("link", name="Write a post"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Write a post")
    trip.check("news editor")

    for path in REFUSED:
        trip.goto(path, status=403)
    trip.check("refused page")
