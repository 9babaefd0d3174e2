"""A donation added at join is its own payment: one Checkout, two records that add up to the charge."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.billing.models import Payment
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from crm.staff import dashboard
from tests.fixtures import make_user, sign_in_as
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def count(model, *where) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def join_and_pay(client, plans, sandbox, **changes):  # type: ignore[no-untyped-def]
    response = client.post("/join", data=form(plans, **changes))
    assert response.status_code == 303, response.get_data(as_text=True)
    membership = db.session.scalar(select(Membership).order_by(Membership.id.desc()))
    sandbox.pay(membership.stripe_checkout_session_id)
    return membership.id, membership.stripe_checkout_session_id


def all_ok(responses) -> None:  # type: ignore[no-untyped-def]
    assert responses and all(r.status_code == 200 for r in responses), [
        (r.status_code, r.get_json()) for r in responses
    ]


def payments() -> dict[str, Payment]:
    db.session.expire_all()
    return {p.kind: p for p in db.session.scalars(select(Payment))}


def charged_by_stripe(sandbox) -> int:  # type: ignore[no-untyped-def]
    return sum(c["amount"] for c in sandbox.find("charge") if c["status"] == "succeeded")


@pytest.mark.parametrize("seed", [1, 2, 3, "reversed"])
def test_yearly_join_with_a_donation_records_a_membership_and_a_donation_whatever_the_event_order(
    client, plans, stripe_sandbox, seed
):
    membership_id, session_id = join_and_pay(client, plans, stripe_sandbox, donation="10", gift_aid="y")
    session = stripe_sandbox.object(session_id)
    assert session["amount_total"] == 4600  # one Checkout, the donation its own line
    events = stripe_sandbox.take_events()
    if seed == "reversed":
        events.reverse()
        all_ok(deliver_webhooks(client, events, duplicate=True))
    else:
        all_ok(deliver_webhooks(client, events, duplicate=True, shuffle=seed))
    client.get(f"/join/success?session_id={session_id}")  # the success page applies it too

    found = payments()
    assert count(Payment) == 2 and set(found) == {"membership", "donation"}
    membership, donation = found["membership"], found["donation"]
    assert (membership.amount, membership.membership_id) == (3600, membership_id)
    assert (donation.amount, donation.membership_id, donation.part_of_id) == (1000, None, membership.id)
    assert membership.amount + donation.amount == charged_by_stripe(stripe_sandbox) == 4600
    assert donation.gift_aid_eligible and membership.gift_aid_eligible  # the standard plan is eligible
    assert db.session.get(Membership, membership_id).status == "active"
    assert count(Membership) == 1


def test_the_receipt_has_a_line_for_the_membership_and_one_for_the_donation(client, plans, stripe_sandbox):
    join_and_pay(client, plans, stripe_sandbox, donation="10")
    all_ok(deliver_webhooks(client, duplicate=True))
    receipts = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "receipt")))
    assert len(receipts) == 1
    text = receipts[0].body_text
    assert "Membership (Standard (yearly)): £36.00" in text
    assert "Donation: £10.00" in text and "Total: £46.00" in text


def test_gift_aid_is_claimed_on_the_donation_but_not_on_an_ineligible_plan_fee(client, plans, stripe_sandbox):
    join_and_pay(
        client, plans, stripe_sandbox, plan=str(plans["organisation-yearly"].id), donation="20", gift_aid="y"
    )
    all_ok(deliver_webhooks(client))
    found = payments()
    assert (found["membership"].amount, found["membership"].gift_aid_eligible) == (12000, False)
    assert (found["donation"].amount, found["donation"].gift_aid_eligible) == (2000, True)


def test_a_life_plan_paid_in_one_payment_is_split_too(client, plans, stripe_sandbox):
    _, session_id = join_and_pay(client, plans, stripe_sandbox, plan=str(plans["life"].id), donation="12.50")
    all_ok(deliver_webhooks(client, duplicate=True, shuffle=5))
    client.get(f"/join/success?session_id={session_id}")
    found = payments()
    assert (found["membership"].amount, found["donation"].amount) == (50000, 1250)
    assert count(Payment) == 2


def test_a_join_without_a_donation_records_one_membership_payment(client, plans, stripe_sandbox):
    join_and_pay(client, plans, stripe_sandbox)
    all_ok(deliver_webhooks(client, duplicate=True))
    assert count(Payment) == 1 and payments()["membership"].amount == 3600


def test_a_renewal_is_all_membership(client, plans, stripe_sandbox):
    membership_id, _ = join_and_pay(client, plans, stripe_sandbox, donation="10")
    all_ok(deliver_webhooks(client))
    stripe_sandbox.renew(db.session.get(Membership, membership_id).stripe_subscription_id)
    all_ok(deliver_webhooks(client, duplicate=True))
    kinds = sorted((p.kind, p.amount) for p in db.session.scalars(select(Payment)))
    assert kinds == [("donation", 1000), ("membership", 3600), ("membership", 3600)]


def test_dashboard_account_and_staff_list_show_membership_income_and_donations_apart(
    client, plans, stripe_sandbox
):
    join_and_pay(client, plans, stripe_sandbox, donation="10")
    all_ok(deliver_webhooks(client))
    from crm.core.types import utcnow

    now = utcnow()
    income = {
        label: net
        for label, _n, net in dashboard.income_by_plan(now.replace(day=1), now.replace(year=now.year + 1))
    }
    assert income == {"Standard (yearly)": 3600, "Donations": 1000}

    admin = make_user("admin@example.org", "admin")
    sign_in_as(client, admin)
    page = client.get("/staff/payments?kind=donation").get_data(as_text=True)
    assert "£10.00" in page and "£36.00" not in page
    page = client.get("/staff/payments?kind=membership").get_data(as_text=True)
    assert "£36.00" in page and "£10.00" not in page


def test_staff_refund_of_part_of_the_donation_stays_on_the_donation(client, plans, stripe_sandbox):
    join_and_pay(client, plans, stripe_sandbox, donation="10")
    all_ok(deliver_webhooks(client))
    donation = payments()["donation"]
    admin = make_user("admin@example.org", "admin")
    sign_in_as(client, admin)
    response = client.post(
        f"/staff/members/{donation.contact_id}/payments/{donation.id}/refund",
        data={f"r{donation.id}-amount": "5.00", f"r{donation.id}-reason": "gave twice by mistake"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    all_ok(deliver_webhooks(client, duplicate=True, shuffle=2))  # refund.created, charge.refunded
    found = payments()
    assert (found["donation"].amount_refunded, found["donation"].status) == (500, "partly_refunded")
    assert (found["membership"].amount_refunded, found["membership"].status) == (0, "paid")
    refund = found["donation"].refunds
    assert [(r.amount, r.reason) for r in refund] == [(500, "gave twice by mistake")]


def test_a_refund_made_in_stripes_dashboard_goes_to_the_membership_first(client, plans, stripe_sandbox):
    join_and_pay(client, plans, stripe_sandbox, donation="10")
    all_ok(deliver_webhooks(client))
    membership = payments()["membership"]
    stripe_sandbox.refund(membership.stripe_payment_intent_id, 4000)
    all_ok(deliver_webhooks(client, duplicate=True, shuffle=3))
    found = payments()
    assert found["membership"].amount_refunded == 3600 and found["membership"].status == "refunded"
    assert found["donation"].amount_refunded == 400 and found["donation"].status == "partly_refunded"


def test_a_staff_refund_keeps_its_reason_and_author_when_the_webhook_records_it_first(
    client, plans, stripe_sandbox
):
    from crm.billing.models import Refund

    join_and_pay(client, plans, stripe_sandbox, donation="10")
    all_ok(deliver_webhooks(client))
    donation = payments()["donation"]
    admin = make_user("admin@example.org", "admin", first_name="Alex", last_name="Admin")
    # Stripe makes the refund; its refund.created webhook is applied before the staff request
    # saves anything (the race when the webhook commits first).
    from crm.billing import stripe_gateway
    from crm.billing.refunds import staff_refund_metadata

    stripe_gateway.create_refund(
        payment_intent_id=payments()["membership"].stripe_payment_intent_id,
        amount=500,
        idempotency_key="race-test",
        metadata=staff_refund_metadata(donation, reason="gave twice by mistake", actor=admin),
    )
    all_ok(deliver_webhooks(client, duplicate=True))
    [refund] = db.session.scalars(select(Refund))
    assert (refund.payment_id, refund.reason, refund.created_by_id) == (
        donation.id,
        "gave twice by mistake",
        admin.id,
    )


def test_the_member_is_emailed_once_about_a_partial_refund_and_staff_see_reason_and_author(
    client, plans, stripe_sandbox
):
    join_and_pay(client, plans, stripe_sandbox, donation="10")
    all_ok(deliver_webhooks(client))
    donation = payments()["donation"]
    admin = make_user("admin@example.org", "admin", first_name="Alex", last_name="Admin")
    sign_in_as(client, admin)
    page = client.get(f"/staff/members/{donation.contact_id}").get_data(as_text=True)
    assert f'action="/staff/members/{donation.contact_id}/payments/{donation.id}/refund"' in page
    response = client.post(
        f"/staff/members/{donation.contact_id}/payments/{donation.id}/refund",
        data={f"r{donation.id}-amount": "5.00", f"r{donation.id}-reason": "gave twice by mistake"},
    )
    assert response.status_code == 302
    all_ok(deliver_webhooks(client, duplicate=True))
    assert [
        m.to_email for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "refund"))
    ] == [donation.contact.email]
    emails = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "refund")))
    assert len(emails) == 1
    assert "refunded £5.00 of your donation of £10.00" in emails[0].body_text
    assert "partial refund" in emails[0].body_text
    page = client.get(f"/staff/members/{donation.contact_id}").get_data(as_text=True)
    assert "Refund: gave twice by mistake (by Alex Admin)" in page


DONOR = {"first_name": "Dee", "last_name": "Donor", "email": "dee@example.org", "gift_aid": "y",
         "address_line1": "2 Low Road", "postcode": "ls1 4ap"}  # fmt: skip


def test_a_monthly_gift_is_its_own_subscription_and_each_month_a_donation(client, plans, stripe_sandbox):
    client.get("/donate")
    response = client.post("/donate", data={**DONOR, "frequency": "month", "preset": "25", "amount": ""})
    assert response.status_code == 303, response.get_data(as_text=True)
    session = stripe_sandbox.find("checkout.session")[0]
    assert session["mode"] == "subscription" and session["amount_total"] == 2500
    stripe_sandbox.pay(session["id"])
    all_ok(deliver_webhooks(client, duplicate=True, shuffle=1))
    client.get(f"/join/success?session_id={session['id']}")
    sub_id = stripe_sandbox.find("subscription")[0]["id"]
    stripe_sandbox.renew(sub_id)
    all_ok(deliver_webhooks(client, duplicate=True))
    rows = sorted((p.kind, p.amount, p.membership_id) for p in db.session.scalars(select(Payment)))
    assert rows == [("donation", 2500, None), ("donation", 2500, None)]
    assert count(Membership) == 0


def test_other_amount_and_covering_the_card_fee(client, plans, stripe_sandbox):
    from crm.billing.donations import card_fee_cover

    assert card_fee_cover(1000) == 36  # (1000 + 20) / 0.985 = 1035.5 -> 1036
    client.get("/donate")
    data = {**DONOR, "frequency": "once", "preset": "other", "amount": "10", "cover_fee": "y"}
    assert client.post("/donate", data=data).status_code == 303
    assert stripe_sandbox.find("checkout.session")[0]["amount_total"] == 1036


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"preset": "other", "amount": ""}, "Enter how much you would like to give."),
        ({"preset": "other", "amount": "0.50"}, "Enter an amount between"),
        ({"preset": "other", "amount": "9999999"}, "Enter an amount between"),
        ({"frequency": "week", "preset": "10"}, "Choose how often you would like to give."),
    ],
)
def test_bad_amounts_and_frequencies_are_refused_with_a_message(
    client, plans, stripe_sandbox, changes, message
):
    client.get("/donate")
    page = client.post("/donate", data={**DONOR, "frequency": "once", **changes}).get_data(as_text=True)
    assert message in page
    assert stripe_sandbox.find("checkout.session") == []


def test_the_donor_manages_or_stops_their_regular_gift_from_their_account(client, plans, stripe_sandbox):
    donor = make_user("dee@example.org", "member", first_name="Dee", last_name="Donor")
    client.get("/donate")
    client.post("/donate", data={**DONOR, "frequency": "year", "preset": "50", "amount": ""})
    session = stripe_sandbox.find("checkout.session")[0]
    stripe_sandbox.pay(session["id"])
    all_ok(deliver_webhooks(client))
    sign_in_as(client, donor)
    page = client.get("/account").get_data(as_text=True)
    assert "Your regular gift" in page and "£50.00" in page
    response = client.post("/account/billing-portal", data={})
    assert response.status_code == 303
    portal = stripe_sandbox.find("billing_portal.session")
    assert response.headers["Location"] == portal[0]["url"]
    # In the portal the donor stops it: Stripe cancels the subscription; no membership appears.
    stripe_sandbox.cancel_subscription(stripe_sandbox.find("subscription")[0]["id"], {})
    all_ok(deliver_webhooks(client))
    assert count(Membership) == 0 and count(Payment) == 1
