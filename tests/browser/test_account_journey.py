"""A member looks after their own membership: auto-renewal off and on again, and their data."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.browser.joining import new_member
from tests.browser.journey import Journey


def test_member_cancels_auto_renewal_turns_it_back_on_and_downloads_their_data(
    journey: Journey, needs_sandbox: None
) -> None:
    trip, page = journey, journey.page
    # Turning auto-renewal back on needs the Stripe subscription that joining made.
    email = new_member(trip, "tomas", plan="Standard (yearly)")
    trip.goto("/account")
    card = page.locator(".membership-card")
    expect(card).to_contain_text("Renews on")
    expect(card).to_contain_text("Auto-renewal")
    trip.check("account")

    trip.follow(card.get_by_role("link", name="Cancel auto-renewal"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel auto-renewal?")
    trip.check("cancel auto-renewal")
    trip.follow(page.get_by_role("button", name="Yes, cancel auto-renewal"))
    expect(page.get_by_role("status").first).to_contain_text("Auto-renewal is cancelled")
    ends = card.locator("dt", has_text="Ends on")
    expect(ends).to_be_visible()
    assert re.search(r"\d{1,2} [A-Z][a-z]+ \d{4}", card.locator("dt:has-text('Ends on') + dd").inner_text())
    trip.check("auto-renewal cancelled")

    trip.follow(page.get_by_role("button", name="Turn auto-renewal back on"))
    expect(page.get_by_role("status").first).to_contain_text("Auto-renewal is back on")
    expect(card).to_contain_text("Renews on")
    trip.check("auto-renewal back on")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download my data (JSON)").click()
    download = info.value
    data = json.loads(open(download.path(), encoding="utf-8").read())
    text = json.dumps(data)
    assert email in text
    assert "member@example.org" not in text
    trip.watch.assert_clean()
