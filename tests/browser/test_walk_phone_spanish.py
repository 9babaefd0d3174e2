"""A new person's walk through this round's pages: a supporter, a member and staff, in Spanish on
a 390 x 844 phone and in English 1280 px wide. Every page passes the journeys' checks (no
horizontal scroll, axe, every control reachable) and says what a reader needs: its language, a
heading, no English left where a Spanish translation exists, and an empty state that helps."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.browser.journey import Journey, watched_journey
from tests.browser.live import LiveApp
from tests.browser.people import (
    confirm_campaign,
    fresh_totp_code,
    make_member,
    make_staff,
    saved_audience_and_draft,
)

PASSWORD = "demo-password-2026"
#: (language, browser locale, viewport name, size): the phone walk in Spanish, the desk in English.
WALKS = {
    "es-phone": ("es", "es-ES", "phone", {"width": 390, "height": 844}),
    "en-desktop": ("en", "en-GB", "desktop", {"width": 1280, "height": 900}),
}
#: English a Spanish page must not show: each has a Spanish translation in the catalogue.
ENGLISH_LEFT_OVER = [
    "Sign in",
    "Book a place",
    "Events and meetings",
    "My email preferences",
    "Subscribe",
    "Voting",
    "Members only",
    "Your vote",
    "places left",
    "Donate",
    "Save",
]


@pytest.fixture(params=list(WALKS))
def walk(browser, live: LiveApp, request: pytest.FixtureRequest) -> Iterator[Journey]:  # type: ignore[no-untyped-def]
    _, locale, viewport, size = WALKS[request.param]
    with watched_journey(browser, live, request, viewport, size, locale) as trip:
        yield trip


def _language(trip: Journey) -> str:
    return "es" if trip.viewport == "phone" else "en"


def _page(trip: Journey, path: str, name: str, *, translated: bool = True) -> str:
    """Go to `path`, check and photograph it; returns the main text."""
    trip.goto(path)
    lang = trip.page.locator("html").get_attribute("lang") or ""
    if translated:
        assert lang.startswith(_language(trip)), f"{path}: lang={lang}"
    assert trip.heading(), f"{path}: no heading"
    text = trip.text()
    if translated and _language(trip) == "es":
        left = [english for english in ENGLISH_LEFT_OVER if english in trip.page.locator("body").inner_text()]
        assert not left, f"{path}: English left on the Spanish page: {left}"
    width = trip.page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{path}: scrolls sideways ({width[0]} px > {width[1]} px)"
    trip.check(name)
    return text


def _event_slug(trip: Journey, title: str) -> str:
    from crm.events.models import Event

    with trip.live.db() as session:
        slug = session.scalar(select(Event.slug).where(Event.title == title))
    assert slug
    return slug


def _agm_id(trip: Journey) -> int:
    from crm.events.models import Event

    with trip.live.db() as session:
        found = session.scalar(select(Event.id).where(Event.title == "Annual General Meeting"))
    assert found
    return found


def _sign_in(trip: Journey, email: str, totp_secret: str | None = None) -> None:
    page = trip.page
    trip.goto("/login")
    page.locator("main input[name=email]").fill(email)
    page.locator("main input[name=password]").fill(PASSWORD)
    trip.follow(page.locator("main form button[type=submit]").first)
    if totp_secret:
        page.locator("main input[name=code]").fill(fresh_totp_code(totp_secret))
        trip.follow(page.locator("main form button[type=submit]").first)
    assert "/login" not in page.url, trip.text()[:300]


def test_a_supporter_reads_the_events_subscribes_and_donates_in_their_language(walk: Journey) -> None:
    spanish = _language(walk) == "es"
    text = _page(walk, "/events", "events list")
    assert ("Noche de cine" if spanish else "Film night") in text
    _page(walk, f"/events/{_event_slug(walk, 'Benefit gig')}", "paid event page")
    _page(walk, "/subscribe", "subscribe")
    _page(walk, "/donate", "donate")
    _page(walk, "/join", "join with a choice of payment")


def test_a_member_reads_their_preferences_the_events_and_the_agm_vote(walk: Journey) -> None:
    email = f"walker-{walk.viewport}-{uuid.uuid4().hex[:6]}@example.org"
    make_member(walk, email)
    _sign_in(walk, email)
    if _language(walk) == "es":  # their own language (English) wins over the browser's: they switch
        walk.follow(walk.page.get_by_role("banner").get_by_role("button", name="Español"))
    _page(walk, "/account", "account")
    _page(walk, "/account/email-preferences", "my email preferences")
    _page(walk, "/events", "events list for a member")
    text = _page(walk, f"/agm/{_agm_id(walk)}", "AGM agenda and vote")
    spanish = _language(walk) == "es"
    assert ("derechos sobre la tierra" if spanish else "land rights") in text
    assert walk.heading() == ("Asamblea general anual" if spanish else "Annual General Meeting")


def test_staff_find_the_audiences_campaigns_payments_and_agm_pages_usable(walk: Journey) -> None:
    email = f"walk-staff-{walk.viewport}-{uuid.uuid4().hex[:6]}@example.org"
    _sign_in(walk, email, make_staff(walk, email, "admin"))
    # The staff area is English (README, Languages); it must still fit a phone.
    _page(walk, "/staff/audiences", "audience builder", translated=False)
    _page(walk, "/staff/campaigns", "campaigns", translated=False)
    _page(walk, "/staff/campaigns/new", "new campaign", translated=False)
    audience_id, campaign_id = saved_audience_and_draft(walk)
    _page(walk, f"/staff/audiences/{audience_id}", "saved audience", translated=False)
    text = _page(walk, f"/staff/campaigns/{campaign_id}/confirm", "campaign confirmation", translated=False)
    assert re.search(r"Yes, send to [\d,]+ (people|person)", text), text[-300:]  # the button names the number
    confirm_campaign(walk, campaign_id)
    _page(walk, f"/staff/campaigns/{campaign_id}/report", "campaign report", translated=False)
    _page(walk, "/staff/payments", "payments", translated=False)
    _page(walk, "/staff/events", "staff events", translated=False)
    _page(walk, f"/staff/events/{_agm_id(walk)}/agm", "staff AGM", translated=False)
