"""What staff and visitors stumbled on at phone width (390 px), measured in the browser, with the
wide layout (1280 px) checked beside it: the campaign report's figures sit two or three to a row on
a phone and all in one row on a desk, in English and for a staff member who reads the site in
Spanish; an event's title starts at the top of its card on the events list, and close under the
"All events" link on the event's page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.browser.journey import Journey, watched_journey
from tests.browser.live import LiveApp
from tests.browser.people import confirm_campaign, make_staff, saved_audience_and_draft, sign_in

PASSWORD = "demo-password-2026"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
#: The card's padding (1rem) and a few pixels for the title's line box; the bug left 3rem.
MOST_ABOVE_A_CARD_TITLE = 24
#: The title's own top margin (1.5rem) and its line box, below the back link's paragraph.
MOST_BELOW_THE_BACK_LINK = 44


@pytest.fixture(params=list(SIZES))
def trip(browser, live: LiveApp, request: pytest.FixtureRequest) -> Iterator[Journey]:  # type: ignore[no-untyped-def]
    with watched_journey(browser, live, request, request.param, SIZES[request.param]) as journey:
        yield journey


def _boxes(trip: Journey, selector: str) -> list[dict[str, float]]:
    boxes = trip.page.eval_on_selector_all(
        selector,
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return {top: r.top + scrollY, left: r.left, right: r.right, bottom: r.bottom + scrollY}; })",
    )
    assert boxes, f"nothing matches {selector}"
    return boxes  # type: ignore[no-any-return]


def _rows(boxes: list[dict[str, float]]) -> list[int]:
    """How many boxes share each row, top to bottom."""
    tops: dict[int, int] = {}
    for box in boxes:
        tops[round(box["top"])] = tops.get(round(box["top"]), 0) + 1
    return [tops[top] for top in sorted(tops)]


def _scheduled_campaign(trip: Journey) -> int:
    """A campaign confirmed to everyone who wants news by email, as staff confirm it."""
    _, campaign_id = saved_audience_and_draft(trip)
    confirm_campaign(trip, campaign_id)
    return campaign_id


def _figures_fit(trip: Journey, language: str) -> None:
    boxes = _boxes(trip, "dl.figures > div")
    assert len(boxes) == 8, boxes
    width = SIZES[trip.viewport]["width"]
    assert all(box["left"] >= 0 and box["right"] <= width for box in boxes), f"{language}: {boxes}"
    rows = _rows(boxes)
    if trip.phone:
        assert len(rows) <= 4 and all(n in (2, 3) for n in rows), f"{language}: {rows} figures to a row"
    else:
        assert rows == [8], f"{language}: {rows} figures to a row"
    # Each label and number stays inside its own box (a long label wraps, it does not spill).
    for part in ("dt", "dd"):
        for box, inner in zip(boxes, _boxes(trip, f"dl.figures > div > {part}"), strict=True):
            assert box["left"] <= inner["left"] and inner["right"] <= box["right"] + 0.5, (language, part)
            assert box["top"] <= inner["top"] and inner["bottom"] <= box["bottom"] + 0.5, (language, part)
    figures = dict(
        zip(
            trip.page.locator("dl.figures dt").all_inner_texts(),
            [int(v.replace(",", "")) for v in trip.page.locator("dl.figures dd").all_inner_texts()],
            strict=True,
        )
    )
    parts = ("Waiting", "Queued", "Sent", "Failed", "Skipped")
    assert figures["Recipients"] == sum(figures[p] for p in parts), figures  # the report adds up


def test_the_campaign_reports_figures_share_rows_on_a_phone_and_one_row_on_a_desk(trip: Journey) -> None:
    email = f"report-{trip.viewport}-{uuid.uuid4().hex[:6]}@example.org"
    sign_in(trip, email, PASSWORD, totp_secret=make_staff(trip, email, "admin"))
    trip.goto(f"/staff/campaigns/{_scheduled_campaign(trip)}/report")
    _figures_fit(trip, "English")
    trip.check("campaign report")
    if trip.phone:  # a staff member who reads the site in Spanish: the menu changes, the grid holds
        trip.follow(trip.page.get_by_role("banner").get_by_role("button", name="Español"))
        assert (trip.page.locator("html").get_attribute("lang") or "").startswith("es")
        _figures_fit(trip, "Spanish")
        trip.check("campaign report, Spanish menu")


def _title_gaps(trip: Journey) -> None:
    cards, titles = _boxes(trip, "ul.cards > li.card"), _boxes(trip, "ul.cards > li.card > h2")
    for card, title in zip(cards, titles, strict=True):
        assert title["top"] - card["top"] <= MOST_ABOVE_A_CARD_TITLE, (card, title)
    if not trip.phone:
        assert _rows(cards)[0] >= 2, "the wide layout keeps its cards side by side"


def test_an_events_title_starts_at_the_top_of_its_card_and_under_the_back_link(trip: Journey) -> None:
    trip.goto("/events")
    _title_gaps(trip)
    trip.check("events list")
    trip.follow(trip.page.locator("ul.cards h2 a").first)
    [back] = _boxes(trip, "main article > p:first-child")
    [title] = _boxes(trip, "main h1")
    assert title["top"] - back["bottom"] <= MOST_BELOW_THE_BACK_LINK, (back, title)
    trip.check("event page")


def test_the_events_list_in_spanish_keeps_its_titles_at_the_top_of_their_cards(
    browser, live: LiveApp, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    with watched_journey(browser, live, request, "phone", SIZES["phone"], "es-ES") as trip:
        trip.goto("/events")
        assert trip.heading() == "Eventos"
        _title_gaps(trip)
        trip.check("events list in Spanish")
