"""A supporter joins on the joint plan naming their partner (a mistake first), pays once in the
sandbox; both welcome emails arrive, the partner sets a password, reads a members-only post and
sees whose joint membership it is; staff see the two members linked on both pages."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.joining import (
    NEW_PASSWORD,
    fill_join_form,
    on_sandbox_checkout,
    pay,
    see_welcome,
    submit_join_form,
    unique_email,
)
from tests.browser.journey import Journey
from tests.browser.people import latest_email, link_in, make_staff, sign_in

JOINT_PLAN = "Joint (two adults at one address)"
MEMBERS_POST = "Members' briefing: ten years after the accord"


def _contact_ids(trip: Journey, *emails: str) -> list[int]:
    from crm.contacts.models import Contact

    with trip.live.db() as session:
        return [int(session.scalar(select(Contact.id).where(Contact.email == e))) for e in emails]


def _payments(trip: Journey, *emails: str) -> list[tuple[str, int]]:
    from crm.billing.models import Payment
    from crm.contacts.models import Contact

    with trip.live.db() as session:
        rows = session.execute(
            select(Contact.email, Payment.amount)
            .join(Contact, Contact.id == Payment.contact_id)
            .where(Contact.email.in_(emails))
        ).all()
    return [(str(email), int(amount)) for email, amount in rows]


def test_a_couple_joins_on_the_joint_plan_and_each_signs_in(journey: Journey, needs_sandbox: None) -> None:
    trip, page = journey, journey.page
    payer, partner = unique_email("rosa", trip), unique_email("camilo", trip)
    trip.goto("/join")
    fill_join_form(trip, payer, plan=JOINT_PLAN)
    page.get_by_label("Their given name").fill("Camilo")
    page.get_by_label("Their family name").fill("Quintero")
    page.get_by_label("Their email").fill(payer)  # the same address: refused
    submit_join_form(trip)
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("Each adult needs their own email address")
    trip.check("joint join form with an error")

    page.get_by_label("Their email").fill(partner)
    submit_join_form(trip)
    on_sandbox_checkout(trip)
    pay(trip)
    see_welcome(trip)
    assert _payments(trip, payer, partner) == [(payer, 5400)]  # one payment, the payer's

    payer_welcome = latest_email(trip, payer, "welcome")
    assert "Your joint membership includes Camilo Quintero" in payer_welcome, payer_welcome
    partner_welcome = latest_email(trip, partner, "welcome")
    assert "Rosa Quintero has made you a joint member" in partner_welcome, partner_welcome

    # The partner, in their own browser: their own password, then members' news.
    other = trip.other_browser("partner")
    other.goto(link_in(partner_welcome, "/password/set/"))
    other.page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    other.page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    other.follow(other.page.locator("main").get_by_role("button").first)
    expect(other.page.get_by_text("Your password is set and you are signed in.")).to_be_visible()
    other.goto("/news")
    other.follow(other.page.get_by_role("link", name=MEMBERS_POST))
    expect(other.page.get_by_text("This briefing is for members only.")).to_be_visible()
    other.check("members-only post, read by the second adult")
    other.goto("/account")
    expect(other.page.get_by_text("You are the joint member with Rosa Quintero")).to_be_visible()
    expect(other.page.get_by_role("button", name="Manage card and auto-renewal")).to_have_count(0)
    other.check("the second adult's account")

    _staff_see_the_two_linked(trip, payer, partner)


def _staff_see_the_two_linked(trip: Journey, payer: str, partner: str) -> None:
    from crm.demo import DEMO_PASSWORD

    staff = trip.other_browser("staff")
    staff_email = unique_email("joint-staff", staff)
    sign_in(staff, staff_email, DEMO_PASSWORD, totp_secret=make_staff(staff, staff_email, "staff"))
    payer_id, partner_id = _contact_ids(trip, payer, partner)
    staff.goto(f"/staff/members/{payer_id}")
    link = staff.page.locator("#memberships").get_by_role("link", name="Camilo Quintero")
    expect(staff.page.locator("#memberships")).to_contain_text("Joint membership with Camilo Quintero")
    staff.check("payer's member page, joint")
    staff.follow(link)
    assert staff.page.url.endswith(f"/staff/members/{partner_id}"), staff.page.url
    expect(staff.page.locator("#memberships")).to_contain_text("Joint membership with Rosa Quintero")
    staff.check("second adult's member page, joint")
