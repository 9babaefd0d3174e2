"""A lapsed member finds the renew prompt where members-only news would be, renews, reads again."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.joining import (
    fill_join_form,
    on_sandbox_checkout,
    pay,
    see_welcome,
    submit_join_form,
    unique_email,
)
from tests.browser.journey import Journey
from tests.browser.people import make_member, sign_in

POST = "Members' briefing: ten years after the accord"
BODY = "This briefing is for members only."


def test_lapsed_member_renews_and_reads_members_only_news_again(
    journey: Journey, needs_sandbox: None
) -> None:
    from crm.demo import DEMO_PASSWORD

    trip, page = journey, journey.page
    # Like the demo's lapsed@example.org, but this run's own, so that each run starts lapsed.
    email = unique_email("lapsed", trip)
    make_member(trip, email, status="lapsed", paid_days=-60, auto_renew=False)
    sign_in(trip, email, DEMO_PASSWORD)

    trip.goto("/news")
    trip.follow(page.get_by_role("link", name=POST))
    gate = page.get_by_role("region", name="Members only")
    expect(gate).to_contain_text("Your membership is Lapsed")
    expect(page.get_by_text(BODY)).to_have_count(0)
    trip.check("renew prompt instead of the post")

    trip.follow(gate.get_by_role("link", name="Renew your membership"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Renew your membership")
    expect(page.get_by_role("radio", name="Standard (yearly)")).to_be_checked()
    trip.check("renewal form")
    fill_join_form(trip, email, first="Tomás")
    submit_join_form(trip)
    on_sandbox_checkout(trip)
    pay(trip)
    see_welcome(trip)

    trip.goto("/news")
    trip.follow(page.get_by_role("link", name=POST))
    expect(page.get_by_text(BODY)).to_be_visible()
    expect(page.get_by_role("region", name="Members only")).to_have_count(0)
    trip.check("members-only post after renewing")
