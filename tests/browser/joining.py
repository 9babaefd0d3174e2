"""The join form and the sandbox checkout, as a supporter fills and pays them."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.browser.journey import Journey

NEW_PASSWORD = "a long walk to the river bank"  # noqa: S105  (test data)


def unique_email(name: str, trip: Journey) -> str:
    return f"{name}.{trip.viewport}.{uuid.uuid4().hex[:8]}@example.org"


def fill_join_form(
    trip: Journey, email: str, *, plan: str = "Standard (yearly)", first: str = "Rosa"
) -> None:
    page = trip.page
    page.get_by_role("radio", name=re.compile(re.escape(plan))).check()
    page.get_by_label("Title (optional)").select_option("Ms")
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill("Quintero")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Address line 1").fill("12 Canal Street")
    page.get_by_label("Town or city").fill("Manchester")
    page.get_by_label("Postcode").fill("m1 3he")


def submit_join_form(trip: Journey) -> None:
    trip.follow(trip.page.get_by_role("button", name="Continue to payment"))


def on_sandbox_checkout(trip: Journey) -> None:
    assert trip.live.sandbox_url and trip.page.url.startswith(trip.live.sandbox_url + "/checkout/"), (
        trip.page.url
    )
    expect(trip.page.get_by_role("heading", name="Checkout")).to_be_visible()
    # The sandbox stands in for Stripe's hosted page: not ours to audit, but it must not break.
    trip.watch.assert_clean()
    trip.screenshot("sandbox checkout")


def pay(trip: Journey) -> None:
    trip.follow(trip.page.get_by_role("button", name="Pay", exact=True))


def join_and_pay(trip: Journey, email: str, *, plan: str = "Standard (yearly)", check: bool = False) -> None:
    """The shortest join: the form filled right, then Pay on the sandbox checkout."""
    trip.goto("/join")
    fill_join_form(trip, email, plan=plan)
    submit_join_form(trip)
    on_sandbox_checkout(trip)
    pay(trip)
    see_welcome(trip, check=check)


#: The success page's heading for a first join, and for a renewal (a former member paying again).
WELCOME = re.compile(r"^(Welcome, you are a member|Welcome back, your membership is renewed)$")


def see_welcome(trip: Journey, check: bool = True) -> None:
    """The success page: "welcome" (or "confirming", which the webhook settles in a moment)."""
    assert "/join/success" in trip.page.url, trip.page.url
    if not WELCOME.match(trip.heading()):
        trip.page.reload()
    expect(trip.page.get_by_role("heading", level=1)).to_have_text(WELCOME)
    if check:
        trip.check("welcome")


def set_password_from_welcome_email(trip: Journey, email: str, check: bool = True) -> None:
    """Open the welcome email's link and choose a password: the member is then signed in."""
    from tests.browser.people import latest_email, link_in

    trip.goto(link_in(latest_email(trip, email, "welcome"), "/password/set/"))
    if check:
        trip.check("set password")
    trip.page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    trip.page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    trip.follow(trip.page.locator("main").get_by_role("button").first)
    expect(trip.page.get_by_text("Your password is set and you are signed in.")).to_be_visible()


def new_member(trip: Journey, name: str, *, plan: str = "Standard (yearly)") -> str:
    """A supporter who joined through the form and the sandbox, set a password and is signed in."""
    email = unique_email(name, trip)
    join_and_pay(trip, email, plan=plan)
    set_password_from_welcome_email(trip, email, check=False)
    return email
