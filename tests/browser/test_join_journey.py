"""A supporter joins: the form (a mistake first), the sandbox checkout, the welcome email, a
password, signing in, and the members-only news that membership opens."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.browser.joining import (
    NEW_PASSWORD,
    fill_join_form,
    on_sandbox_checkout,
    pay,
    see_welcome,
    set_password_from_welcome_email,
    submit_join_form,
    unique_email,
)
from tests.browser.journey import Journey
from tests.browser.people import sign_in

MEMBERS_POST = "Members' briefing: ten years after the accord"


def _rows(trip: Journey, email: str) -> dict[str, object]:
    from crm.billing.models import Payment
    from crm.contacts.models import Contact
    from crm.memberships.models import Membership

    with trip.live.db() as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.email == email))
        memberships = session.execute(
            select(Membership.status, Membership.auto_renew).where(Membership.contact_id == contact_id)
        ).all()
        payments = session.execute(
            select(Payment.status, Payment.amount).where(Payment.contact_id == contact_id)
        ).all()
        contacts = session.scalar(select(func.count(Contact.id)).where(Contact.email == email))
    return {"contacts": contacts, "memberships": memberships, "payments": payments}


def _set_password_sign_in_and_read(trip: Journey, email: str) -> None:
    set_password_from_welcome_email(trip, email)
    trip.check("signed in after setting a password")

    # Sign out, then back in with the new password, as the member will next time.
    trip.follow(trip.page.get_by_role("button", name="Sign out"))
    sign_in(trip, email, NEW_PASSWORD, check=True)

    trip.goto("/news")
    trip.check("members' news")
    trip.follow(trip.page.get_by_role("link", name=MEMBERS_POST))
    expect(trip.page.get_by_role("heading", level=1)).to_have_text(MEMBERS_POST)
    expect(trip.page.get_by_text("This briefing is for members only.")).to_be_visible()
    trip.check("members-only post")


def test_supporter_joins_pays_sets_password_and_reads_members_only_news(
    journey: Journey, needs_sandbox: None
) -> None:
    trip, page = journey, journey.page
    email = unique_email("rosa", trip)

    trip.goto("/")
    trip.follow(page.locator("main").get_by_role("link", name="Become a member").first)
    expect(page.get_by_role("heading", level=1)).to_have_text("Become a member")
    trip.check("join form")

    # A mistake first: an email address without its domain.
    fill_join_form(trip, email.split("@")[0] + "@")
    submit_join_form(trip)
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link", name="Enter an email address like name@example.org.")).to_be_visible()
    email_field = page.get_by_label("Email address")
    expect(email_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).to_contain_text("Enter an email address like name@example.org.")
    assert "email-error" in (email_field.get_attribute("aria-describedby") or "")
    expect(page.get_by_label("First name")).to_have_value("Rosa")
    trip.check("join form with an error")

    summary.get_by_role("link").first.click()
    email_field.fill(email)
    submit_join_form(trip)
    on_sandbox_checkout(trip)
    expect(page.get_by_text(email)).to_be_visible()
    pay(trip)
    see_welcome(trip)

    rows = _rows(trip, email)
    assert rows["memberships"] == [("active", True)]
    assert rows["payments"] == [("paid", 3600)]

    _set_password_sign_in_and_read(trip, email)


def test_declined_card_then_pay_gives_one_membership_and_one_payment(
    journey: Journey, needs_sandbox: None
) -> None:
    trip, page = journey, journey.page
    email = unique_email("declined", trip)

    trip.goto("/join")
    fill_join_form(trip, email, plan="Monthly")
    submit_join_form(trip)
    on_sandbox_checkout(trip)
    trip.follow(page.get_by_role("button", name="Decline"))
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined")
    trip.watch.assert_clean()
    trip.screenshot("card declined")
    assert _rows(trip, email)["payments"] == []

    pay(trip)
    see_welcome(trip)
    rows = _rows(trip, email)
    assert rows["contacts"] == 1
    assert rows["memberships"] == [("active", True)]
    assert rows["payments"] == [("paid", 400)]
