"""What a new user tripped on in the first hour (issue 26 items 1, 3, 5 and 12), walked in the
browser: corrections after going back from checkout, renewing only when it makes sense, the staff
payments page on first load, and tap targets big enough for a thumb."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.joining import (
    fill_join_form,
    new_member,
    on_sandbox_checkout,
    pay,
    see_welcome,
    submit_join_form,
    unique_email,
)
from tests.browser.journey import Journey
from tests.browser.people import latest_email, make_member, make_staff, sign_in

#: Every visible link, button and small control that is too small to tap (WCAG 2.5.8): main-nav
#: items under 44 px tall, others under 24 x 24 px. A link inside a sentence is exempt (WCAG's
#: "inline" exception), as are controls the browser draws itself (a date picker's parts).
SMALL_TARGETS_JS = """() => {
  const small = [];
  const visible = el => { const s = getComputedStyle(el); const r = el.getBoundingClientRect();
    return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0; };
  for (const el of document.querySelectorAll('a[href], button, select, input[type=checkbox], input[type=radio], summary')) {
    if (!visible(el) || el.closest('.skip-link')) continue;
    const r = el.getBoundingClientRect();
    const label = (el.innerText || el.getAttribute('aria-label') || el.name || el.tagName).trim().slice(0, 40);
    if (el.closest('.site-nav')) {
      if (r.height < 44) small.push(`main nav "${label}": ${Math.round(r.width)}x${Math.round(r.height)}`);
      continue;
    }
    const block = el.tagName === 'A' && el.parentElement.closest('p, li, td, dd, .hint, label, small');
    if (block && block.innerText.trim().length > el.innerText.trim().length + 3) continue;  // inline in text
    if (r.width < 24 || r.height < 24) small.push(`"${label}": ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  return small;
}"""


def assert_tap_targets(trip: Journey, name: str) -> None:
    small = trip.page.evaluate(SMALL_TARGETS_JS)
    assert not small, f"{name} at {trip.size['width']} px: too small to tap: {small}"


def _joined(trip: Journey, email: str) -> dict[str, object]:
    from crm.contacts.models import Contact, GiftAidDeclaration

    with trip.live.db() as session:
        contact = session.scalar(select(Contact).where(Contact.email == email))
        assert contact is not None
        house = session.scalar(
            select(GiftAidDeclaration.house).where(GiftAidDeclaration.contact_id == contact.id)
        )
        return {"first": contact.first_name, "address": contact.address_line1, "gift_aid_house": house}


def test_corrections_after_going_back_from_checkout_are_what_is_kept(
    journey: Journey, needs_sandbox: None
) -> None:
    trip, page = journey, journey.page
    email = unique_email("jorge", trip)
    trip.goto("/join")
    fill_join_form(trip, email, first="Jorj")
    page.get_by_label("Address line 1").fill("5 Hihg St")
    page.get_by_label("Yes, I want to Gift Aid my payments").check()
    submit_join_form(trip)
    on_sandbox_checkout(trip)

    trip.follow(page.get_by_role("link", name="Back"))
    expect(page.get_by_role("status").first).to_contain_text("you have not been charged")
    expect(page.get_by_label("First name")).to_have_value("Jorj")
    expect(page.get_by_label("Address line 1")).to_have_value("5 Hihg St")
    trip.check("join form after going back")

    page.get_by_label("First name").fill("Jorge")
    page.get_by_label("Address line 1").fill("5 High St")
    if not page.get_by_label("Yes, I want to Gift Aid my payments").is_checked():
        page.get_by_label("Yes, I want to Gift Aid my payments").check()
    submit_join_form(trip)
    on_sandbox_checkout(trip)
    pay(trip)
    see_welcome(trip)

    assert _joined(trip, email) == {"first": "Jorge", "address": "5 High St", "gift_aid_house": "5 High St"}
    welcome = latest_email(trip, email, "welcome")
    assert "Dear Jorge" in welcome and "Jorj" not in welcome


def test_renew_now_is_offered_only_near_the_end_and_names_the_period(
    journey: Journey, needs_sandbox: None
) -> None:
    trip, page = journey, journey.page
    # Paid up for a year: cancelling auto-renewal offers turning it back on, not paying again.
    new_member(trip, "yearly", plan="Standard (yearly)")
    trip.goto("/account")
    card = page.locator(".membership-card")
    trip.follow(card.get_by_role("link", name="Cancel auto-renewal"))
    trip.follow(page.get_by_role("button", name="Yes, cancel auto-renewal"))
    expect(page.get_by_role("status").first).to_contain_text("Auto-renewal is cancelled")
    expect(card.get_by_role("button", name="Turn auto-renewal back on")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Renew now"))).to_have_count(0)
    trip.check("auto-renewal cancelled far from the end")

    # Three weeks from the end of a fixed-term year: Renew now, with the period it buys.
    soon = trip.other_browser("in the renewal window")
    email = unique_email("renewer", soon)
    make_member(soon, email, paid_days=21, auto_renew=False)
    sign_in(soon, email, "demo-password-2026")
    soon.goto("/account")
    renew = soon.page.get_by_role("button", name="Renew now (£36.00)")
    expect(renew).to_be_visible()
    period = soon.page.locator("#renewal-period").inner_text()
    assert re.fullmatch(r"Pays for \d{1,2} [A-Z][a-z]+ \d{4} to \d{1,2} [A-Z][a-z]+ \d{4}\.", period), period
    soon.check("account in the renewal window")

    soon.follow(renew)
    on_sandbox_checkout(soon)
    expect(soon.page.locator("table")).to_contain_text(period.removeprefix("Pays for ").rstrip("."))
    soon.follow(soon.page.get_by_role("link", name="Back"))
    assert soon.page.url.split("?")[0].endswith("/account"), soon.page.url
    expect(soon.page.get_by_role("status").first).to_contain_text("you have not been charged")
    soon.check("left the renewal checkout")
    soon.watch.assert_clean()
    soon.close()


def test_staff_payments_page_shows_no_errors_on_first_load(journey: Journey) -> None:
    from crm.demo import DEMO_PASSWORD

    trip, page = journey, journey.page
    email = unique_email("treasurer", trip)
    sign_in(trip, email, DEMO_PASSWORD, totp_secret=make_staff(trip, email, "admin"))
    trip.goto("/staff/payments")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert "Not a valid choice" not in trip.text()
    expect(page.locator(".error-summary, .field-error, [aria-invalid=true]")).to_have_count(0)
    trip.check("staff payments, first load")
    if trip.phone:
        assert_tap_targets(trip, "staff payments")


@pytest.mark.parametrize("viewport", ["phone"])  # measured at phone width
def test_tap_targets_are_big_enough_on_a_phone(journey: Journey, needs_sandbox: None) -> None:
    trip = journey
    for path in ("/", "/news", "/join", "/login", "/donate"):
        trip.goto(path)
        assert_tap_targets(trip, path)
    new_member(trip, "thumb")
    for path in ("/account", "/account/gift-aid"):
        trip.goto(path)
        assert_tap_targets(trip, path)
    trip.goto("/account")
    trip.check("account on a phone")
