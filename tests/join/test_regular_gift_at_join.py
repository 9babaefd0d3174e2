"""Preset amounts and regular giving at join: a monthly or yearly gift is its own subscription,
set up with one more Checkout after the membership's, never a line of the membership."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from crm.billing.models import Payment
from crm.extensions import db
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def rows() -> list[tuple[str, int, bool]]:
    db.session.expire_all()
    return sorted(
        (p.kind, p.amount, p.membership_id is not None) for p in db.session.scalars(select(Payment))
    )


def session_of_kind(sandbox, kind: str):  # type: ignore[no-untyped-def]
    (found,) = [s for s in sandbox.find("checkout.session") if s["metadata"]["kind"] == kind]
    return found


def join_and_pay(client, plans, sandbox, **changes):  # type: ignore[no-untyped-def]
    response = client.post("/join", data=form(plans, **changes))
    assert response.status_code == 303, response.get_data(as_text=True)
    membership = db.session.scalar(select(Membership))
    sandbox.pay(membership.stripe_checkout_session_id)
    deliver_webhooks(client, duplicate=True, shuffle=1)
    return client.get(f"/join/success?session_id={membership.stripe_checkout_session_id}").get_data(
        as_text=True
    )


def test_a_monthly_gift_at_join_is_its_own_subscription_after_the_membership_checkout(
    client, plans, stripe_sandbox
):
    page = join_and_pay(client, plans, stripe_sandbox, donation_preset="25", donation_frequency="month")
    membership_session = session_of_kind(stripe_sandbox, "membership")
    assert membership_session["amount_total"] == 3600, "the gift is not a line of the membership"
    assert "Welcome, you are a member" in page and "Set up your £25.00 monthly gift" in page
    assert rows() == [("membership", 3600, True)]

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    data = {"csrf_token": token.group(1)} if token else {}
    first = client.post("/join/regular-gift", data=data)
    second = client.post("/join/regular-gift", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"], "a double press makes one session"
    gift_session = session_of_kind(stripe_sandbox, "donation")
    assert len(stripe_sandbox.find("checkout.session")) == 2
    assert gift_session["mode"] == "subscription" and gift_session["amount_total"] == 2500
    stripe_sandbox.pay(gift_session["id"])
    deliver_webhooks(client, duplicate=True, shuffle=2)
    assert "Thank you for your donation" in client.get(
        f"/join/success?session_id={gift_session['id']}"
    ).get_data(as_text=True)
    subscriptions = stripe_sandbox.find("subscription")
    assert len(subscriptions) == 2, "membership and gift are separate subscriptions"
    assert rows() == [("donation", 2500, False), ("membership", 3600, True)]

    gift_subscription = next(s for s in subscriptions if s["metadata"].get("kind") == "regular_donation")
    stripe_sandbox.renew(gift_subscription["id"])
    deliver_webhooks(client, duplicate=True)
    assert rows() == [("donation", 2500, False), ("donation", 2500, False), ("membership", 3600, True)]
    assert db.session.scalar(select(func.count(Membership.id))) == 1
    # The offer is gone once the gift is paid for.
    again = client.get(f"/join/success?session_id={membership_session['id']}").get_data(as_text=True)
    assert "Set up your" not in again


def test_a_preset_one_off_gift_at_join_is_a_second_line_of_the_same_checkout(client, plans, stripe_sandbox):
    page = join_and_pay(client, plans, stripe_sandbox, donation_preset="10", donation_frequency="once")
    assert stripe_sandbox.find("checkout.session")[0]["amount_total"] == 4600
    assert "Set up your" not in page
    assert rows() == [("donation", 1000, False), ("membership", 3600, True)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"donation_preset": "7"}, "Choose one of the amounts shown, or enter another amount."),
        ({"donation_preset": "other", "donation": ""}, "Enter how much you would like to give."),
        ({"donation_preset": "other", "donation": "0.50"}, "Enter an amount between"),
        ({"donation_preset": "10", "donation_frequency": "week"}, "Choose how often you would like to give."),
    ],
)
def test_bad_gift_choices_at_join_are_refused_with_a_message(client, plans, changes, message):
    page = client.post("/join", data=form(plans, **changes)).get_data(as_text=True)
    assert message in page
    assert db.session.scalar(select(func.count(Membership.id))) == 0
