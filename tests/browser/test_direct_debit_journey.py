"""A supporter joins yearly by Direct Debit with a £10 donation: the success page says the Direct
Debit is being set up; when the bank pays, they are a member with two payments (£36 membership,
£10 donation). Then staff refund £5 of the donation: the member's page shows the reason and who
made it, and the member gets the refund email."""

from __future__ import annotations

import json
import time
import urllib.request

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.joining import fill_join_form, on_sandbox_checkout, submit_join_form, unique_email
from tests.browser.journey import Journey
from tests.browser.people import latest_email, make_staff, sign_in


def _membership(trip: Journey, email: str) -> tuple[str, str | None]:
    from crm.contacts.models import Contact
    from crm.memberships.models import Membership

    with trip.live.db() as session:
        row = session.execute(
            select(Membership.status, Membership.stripe_checkout_session_id)
            .join(Contact, Contact.id == Membership.contact_id)
            .where(Contact.email == email)
        ).one()
    return str(row[0]), row[1]


def _payments(trip: Journey, email: str) -> list[tuple[str, int]]:
    from crm.billing.models import Payment
    from crm.contacts.models import Contact

    with trip.live.db() as session:
        rows = session.execute(
            select(Payment.kind, Payment.amount)
            .join(Contact, Contact.id == Payment.contact_id)
            .where(Contact.email == email, Payment.status == "paid")
        ).all()
    return sorted((str(kind), int(amount)) for kind, amount in rows)


def _wait_for_status(trip: Journey, email: str, wanted: str) -> None:
    for _ in range(100):
        if _membership(trip, email)[0] == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"membership of {email} is {_membership(trip, email)[0]}, not {wanted}")


def _bank_pays(trip: Journey, session_id: str) -> None:
    """The bank's answer days later: the sandbox's control (as `make run` uses it)."""
    request = urllib.request.Request(  # noqa: S310  (the local sandbox)
        f"{trip.live.sandbox_url}/_sandbox/settle_direct_debit",
        data=json.dumps({"session_id": session_id, "succeed": True}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200


def test_join_yearly_by_direct_debit_with_a_donation(journey: Journey, needs_sandbox: None) -> None:
    trip, page = journey, journey.page
    email = unique_email("dd", trip)
    trip.goto("/join")
    fill_join_form(trip, email)
    page.get_by_role("radio", name="£10", exact=True).check()
    submit_join_form(trip)
    on_sandbox_checkout(trip)
    trip.follow(page.get_by_role("button", name="Pay by Direct Debit"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your Direct Debit is being set up")
    trip.check("direct debit being set up")
    _wait_for_status(trip, email, "direct_debit_pending")
    assert _payments(trip, email) == []

    _, session_id = _membership(trip, email)
    assert session_id
    _bank_pays(trip, session_id)
    _wait_for_status(trip, email, "active")
    assert _payments(trip, email) == [("donation", 1000), ("membership", 3600)]

    _staff_refund_part_of_the_donation(trip, email)


def _contact_id(trip: Journey, email: str) -> int:
    from crm.contacts.models import Contact

    with trip.live.db() as session:
        return int(session.scalar(select(Contact.id).where(Contact.email == email)))


def _staff_refund_part_of_the_donation(trip: Journey, email: str) -> None:
    from crm.demo import DEMO_PASSWORD

    staff = trip.other_browser("staff")
    page = staff.page
    admin_email = unique_email("refunder", staff)
    sign_in(staff, admin_email, DEMO_PASSWORD, totp_secret=make_staff(staff, admin_email, "admin"))
    staff.goto(f"/staff/members/{_contact_id(trip, email)}")
    refund = page.locator("details.staff-action", has_text="Refund this payment (£10.00 left)")
    refund.locator("summary").click()
    refund.get_by_label("Amount to refund").fill("5.00")
    refund.get_by_label("Reason").fill("Gave twice by mistake")
    staff.follow(refund.get_by_role("button", name="Refund through Stripe"))
    staff.expect_success()
    expect(page.locator("#payments")).to_contain_text("Refund: Gave twice by mistake (by Staff Admin)")
    expect(page.locator("#payments")).to_contain_text("partly refunded")
    staff.check("donation part refunded")
    body = latest_email(trip, email, "refund")
    assert "refunded £5.00 of your donation of £10.00" in body, body
