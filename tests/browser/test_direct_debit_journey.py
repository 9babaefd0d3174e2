"""Issue 22's "Done when", as a new user tries it: a supporter joins yearly by Direct Debit with a
£10 donation; the success page says the Direct Debit is being set up; when the bank pays, they
are a member with two payments (£36 membership, £10 donation) on two receipt lines, and the
staff dashboard's income shows the £36 membership and the £10 donation apart. A second
supporter's collection fails: the failure email and no membership. A member whose card runs out
before their next charge gets one notice from two daily runs. Staff refund £5 of the donation:
the member's page shows the reason and who made it, and the member gets the refund email."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.joining import fill_join_form, on_sandbox_checkout, pay, submit_join_form, unique_email
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


def _sandbox(trip: Journey, control: str, **body: Any) -> dict[str, Any]:
    """A sandbox test control (as `make run` uses them): the bank's answer, a new card..."""
    request = urllib.request.Request(  # noqa: S310  (the local sandbox)
        f"{trip.live.sandbox_url}/_sandbox/{control}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200
        return dict(json.loads(response.read() or b"{}") or {})


def _bank_pays(trip: Journey, session_id: str, succeed: bool = True) -> None:
    """The bank's answer days later."""
    _sandbox(trip, "settle_direct_debit", session_id=session_id, succeed=succeed)


def _income_this_month(trip: Journey) -> dict[str, int]:
    """The dashboard's income rows for this month, as the database gives them now (before)."""
    from crm.core.types import utcnow
    from crm.staff import dashboard

    now = utcnow()
    with trip.live.db():
        rows = dashboard.income_by_plan(dashboard.month_start(now), dashboard.month_start(now, -1))
    return {str(name): int(total) for name, _count, total in rows}


def _pounds(minor: int) -> str:
    return f"£{minor / 100:,.2f}"


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
    income_before = _income_this_month(trip)
    _bank_pays(trip, session_id)
    _wait_for_status(trip, email, "active")
    assert _payments(trip, email) == [("donation", 1000), ("membership", 3600)]
    receipt = latest_email(trip, email, "receipt")
    assert re.search(r"Membership \(Standard \(yearly\)\): £36\.00 \(receipt number \d+\)", receipt), receipt
    assert re.search(r"Donation: £10\.00 \(receipt number \d+\)", receipt), receipt
    assert "Paid by: Direct Debit" in receipt, receipt

    staff = _staff_browser(trip)
    _dashboard_shows_the_income_apart(staff, income_before)
    _a_second_supporters_collection_fails(trip)
    _a_card_running_out_gets_one_notice_from_two_daily_runs(trip)
    _staff_refund_part_of_the_donation(staff, trip, email)


def _staff_browser(trip: Journey) -> Journey:
    from crm.demo import DEMO_PASSWORD

    staff = trip.other_browser("staff")
    admin_email = unique_email("refunder", staff)
    sign_in(staff, admin_email, DEMO_PASSWORD, totp_secret=make_staff(staff, admin_email, "admin"))
    return staff


def _dashboard_shows_the_income_apart(staff: Journey, before: dict[str, int]) -> None:
    """This month's income: the yearly plan's row up by £36, the Donations row up by £10."""
    config = staff.live.app.config
    cached = config["DASHBOARD_CACHE_SECONDS"]
    config["DASHBOARD_CACHE_SECONDS"] = 0  # figures of this moment, not another journey's minute
    try:
        staff.goto("/staff/")
    finally:
        config["DASHBOARD_CACHE_SECONDS"] = cached
    table = staff.page.locator("section[aria-labelledby=income-title] table").first
    shown = {}
    for row in table.locator("tbody tr").all():
        name = row.locator("th").inner_text().strip()
        shown[name] = row.locator("td").nth(1).inner_text().strip()
    assert shown["Standard (yearly)"] == _pounds(before.get("Standard (yearly)", 0) + 3600), shown
    assert shown["Donations"] == _pounds(before.get("Donations", 0) + 1000), shown
    staff.check("dashboard income after a direct debit join with a donation")


def _a_second_supporters_collection_fails(trip: Journey) -> None:
    other = trip.other_browser("second supporter")
    page = other.page
    email = unique_email("ddfails", other)
    other.goto("/join")
    fill_join_form(other, email, first="Inés")
    submit_join_form(other)
    on_sandbox_checkout(other)
    other.follow(page.get_by_role("button", name="Pay by Direct Debit"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your Direct Debit is being set up")
    _wait_for_status(trip, email, "direct_debit_pending")
    _, session_id = _membership(trip, email)
    assert session_id
    _bank_pays(trip, session_id, succeed=False)  # the sandbox's "make it fail"
    _wait_for_status(trip, email, "expired")
    body = latest_email(trip, email, "direct_debit_failed")
    assert "so you are not a member yet and nothing has been taken" in body, body
    assert _payments(trip, email) == []
    other.close()


def _a_card_running_out_gets_one_notice_from_two_daily_runs(trip: Journey) -> None:
    """A monthly member by card whose card works only until the month before their next charge."""
    from crm.contacts.models import Contact
    from crm.email.models import OutboxMessage
    from crm.memberships.models import Membership

    member = trip.other_browser("card member")
    email = unique_email("cardends", member)
    member.goto("/join")
    fill_join_form(member, email, plan="Monthly", first="Lucía")
    submit_join_form(member)
    on_sandbox_checkout(member)
    pay(member)
    _wait_for_status(trip, email, "active")
    with trip.live.db() as session:
        customer, next_charge = session.execute(
            select(Contact.stripe_customer_id, Membership.paid_through)
            .join(Membership, Membership.contact_id == Contact.id)
            .where(Contact.email == email)
        ).one()
    month, year = (
        (12, next_charge.year - 1) if next_charge.month == 1 else (next_charge.month - 1, next_charge.year)
    )
    _sandbox(trip, "set_card_expiry", customer_id=customer, exp_month=month, exp_year=year)
    runner = trip.live.app.test_cli_runner()
    for _ in range(2):  # the daily run, twice (cron might run it again)
        result = runner.invoke(args=["crm", "daily"])
        assert result.exit_code == 0, result.output
    with trip.live.db() as session:
        notices = session.scalars(
            select(OutboxMessage.subject).where(
                OutboxMessage.kind == "card_expiring", OutboxMessage.to_email == email
            )
        ).all()
    assert len(notices) == 1 and "Your card expires before your next" in notices[0], notices
    member.close()


def _contact_id(trip: Journey, email: str) -> int:
    from crm.contacts.models import Contact

    with trip.live.db() as session:
        return int(session.scalar(select(Contact.id).where(Contact.email == email)))


def _staff_refund_part_of_the_donation(staff: Journey, trip: Journey, email: str) -> None:
    page = staff.page
    staff.goto(f"/staff/members/{_contact_id(trip, email)}")
    refund = page.locator("details.staff-action", has_text="Refund this payment (£10.00 left)")
    refund.locator("summary").click()
    refund.get_by_label("Amount to refund").fill("5.00")
    refund.get_by_label("Reason").fill("Gave twice by mistake")
    staff.follow(refund.get_by_role("button", name="Refund through Stripe"))
    staff.expect_success()
    expect(page.locator("#payments")).to_contain_text("Refund: Gave twice by mistake (by Staff Admin)")
    expect(page.locator("#payments")).to_contain_text("Partly refunded")
    staff.check("donation part refunded")
    body = latest_email(trip, email, "refund")
    assert "refunded £5.00 of your donation of £10.00" in body, body
