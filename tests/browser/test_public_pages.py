"""A visitor reads the public site: home page, the organisation's pages and the public news."""

from __future__ import annotations

from tests.browser.journey import Journey


def test_visitor_reads_home_page_and_organisation_pages(journey: Journey) -> None:
    journey.goto("/")
    assert "Become a member" in journey.text()
    journey.check("home")

    for title in ("About us", "Why join", "Privacy notice"):
        journey.goto("/")
        nav = journey.page.get_by_role("navigation", name="Main")
        if journey.phone:
            nav.get_by_role("link", name=title).scroll_into_view_if_needed()
        journey.follow(nav.get_by_role("link", name=title))
        assert journey.heading() == title
        journey.check(title)


def test_visitor_reads_public_news_and_is_asked_to_sign_in_for_members_only_posts(journey: Journey) -> None:
    journey.goto("/")
    journey.follow(journey.page.get_by_role("link", name="All news"))
    assert journey.heading().startswith("News")
    journey.check("news list")

    journey.follow(
        journey.page.get_by_role("link", name="Delegation report: the Altiplano Norte, October 2026")
    )
    assert journey.heading() == "Delegation report: the Altiplano Norte, October 2026"
    assert "Our full report goes to Parliament next month." in journey.text()
    journey.check("public post")

    journey.goto("/news/members-briefing-peace-talks")
    assert "/login" in journey.page.url
    journey.check("sign in for a members-only post")
