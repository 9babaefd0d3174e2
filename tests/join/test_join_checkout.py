"""Checkout creation and fulfilment: double submits, tampering, Stripe errors, races."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from crm.billing.models import Payment
from crm.contacts.models import Consent, Contact, GiftAidDeclaration
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import make_contact
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks, post_event


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def count(model, *where) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_pressing_join_twice_gives_one_pending_membership_and_one_checkout_session(
    client, plans, stripe_sandbox
):
    first = client.post("/join", data=form(plans))
    second = client.post("/join", data=form(plans))
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(Membership) == 1 and count(Contact) == 1
    assert len(stripe_sandbox.find("checkout.session")) == 1
    assert len(stripe_sandbox.find("customer")) == 1


def test_changing_the_donation_makes_a_new_session_for_the_same_pending_membership(
    client, plans, stripe_sandbox
):
    client.post("/join", data=form(plans))
    client.post("/join", data=form(plans, donation="5"))
    assert count(Membership) == 1
    assert len(stripe_sandbox.find("checkout.session")) == 2


def test_tampered_price_fields_are_ignored_the_session_charges_the_stored_amount(
    client, plans, stripe_sandbox
):
    data = form(plans, plan=str(plans["concession-yearly"].id))
    data.update(
        amount="1", currency="usd", interval="day", price="price_fake", unit_amount="1", kind="donation"
    )
    assert client.post("/join", data=data).status_code == 303
    membership = db.session.scalar(select(Membership))
    session = stripe_sandbox.object(membership.stripe_checkout_session_id)
    assert session["amount_total"] == 1200 and session["currency"] == "gbp"
    assert session["mode"] == "subscription"
    assert session["metadata"]["kind"] == "membership"


def test_life_plan_and_donation_use_payment_mode_with_the_donation_as_an_extra_line(
    client, plans, stripe_sandbox
):
    client.post("/join", data=form(plans, plan=str(plans["life"].id), donation="12.50"))
    membership = db.session.scalar(select(Membership))
    session = stripe_sandbox.object(membership.stripe_checkout_session_id)
    assert session["mode"] == "payment" and session["amount_total"] == 50000 + 1250


def test_a_stripe_error_shows_a_message_and_stores_only_the_pending_record(client, plans, stripe_sandbox):
    stripe_sandbox.fail_next("/v1/checkout/sessions", mode="error_500")
    response = client.post("/join", data=form(plans))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "You have not been charged." in html
    assert 'value="ana@example.org"' in html
    assert count(Contact) == 1 and count(Membership, Membership.status == "pending") == 1
    assert db.session.scalar(select(Membership.stripe_checkout_session_id)) is None
    assert count(Payment) == 0


def test_a_dropped_connection_retried_makes_one_session(client, plans, stripe_sandbox):
    stripe_sandbox.fail_next("/v1/checkout/sessions", mode="drop_after")
    assert client.post("/join", data=form(plans)).status_code == 200  # shown an error
    assert client.post("/join", data=form(plans)).status_code == 303  # tries again
    assert len(stripe_sandbox.find("checkout.session")) == 1


def test_known_contact_is_reused_and_not_overwritten(client, plans, stripe_sandbox):
    make_contact("ana@example.org", first_name="Ana", last_name="Original", phone="")
    db.session.commit()
    client.post("/join", data=form(plans, last_name="Changed", phone="020 7946 0000"))
    db.session.expire_all()
    contact = db.session.scalar(select(Contact))
    assert count(Contact) == 1
    assert contact.last_name == "Original"  # never overwritten blindly
    assert contact.phone == ""  # an anonymous form does not fill in someone's blanks either


def test_cancel_returns_to_the_form_with_the_values_restored(client, plans, stripe_sandbox):
    client.post("/join", data=form(plans, town="Bristol", donation="7"))
    html = client.get("/join?cancelled=1").get_data(as_text=True)
    assert "you have not been charged" in html
    assert 'value="Bristol"' in html and 'value="7"' in html


def test_skipping_payment_never_makes_a_member(client, plans, stripe_sandbox):
    client.post("/join", data=form(plans))
    membership = db.session.scalar(select(Membership))
    page = client.get(f"/join/success?session_id={membership.stripe_checkout_session_id}")
    assert "We are confirming your payment" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "pending"
    assert count(Payment) == 0


def test_a_new_member_gets_an_account_a_welcome_and_a_receipt(client, plans, stripe_sandbox):
    client.post("/join", data=form(plans, email_updates="y", gift_aid="y"))
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    deliver_webhooks(client)
    db.session.expire_all()
    contact = db.session.scalar(select(Contact))
    assert contact.user is not None and contact.user.role == "member"
    kinds = sorted(m.kind for m in db.session.scalars(select(OutboxMessage)))
    assert kinds == ["receipt", "welcome"]
    consent = db.session.scalar(select(Consent))
    assert consent.source == "join" and consent.confirmed_at is not None and "email" in consent.wording
    declaration = db.session.scalar(select(GiftAidDeclaration))
    assert "UK taxpayer" in declaration.wording and declaration.postcode == "N1 9GU"


def _race(app, session_id: str, completed: dict) -> list[int]:  # type: ignore[no-untyped-def,type-arg]
    """Two success-page loads and the webhook, released together."""
    barrier = threading.Barrier(3)
    results: list[int] = []

    def success_page() -> None:
        with app.app_context():
            barrier.wait()
            results.append(app.test_client().get(f"/join/success?session_id={session_id}").status_code)

    def webhook() -> None:
        with app.app_context():
            barrier.wait()
            results.append(post_event(app.test_client(), completed).status_code)

    threads = [threading.Thread(target=f) for f in (success_page, webhook, success_page)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_success_page_and_webhook_racing_make_one_membership_and_one_payment(app, plans, stripe_sandbox):
    client = app.test_client()
    for round_ in range(5):
        email = f"race{round_}@example.org"
        assert client.post("/join", data=form(plans, email=email)).status_code == 303
        membership = db.session.scalar(select(Membership).order_by(Membership.id.desc()))
        session_id = membership.stripe_checkout_session_id
        stripe_sandbox.pay(session_id)
        events = [e for e in stripe_sandbox.take_events() if e["type"] == "checkout.session.completed"]
        db.session.commit()
        results = _race(app, session_id, events[0])
        assert sorted(results) == [200, 200, 200]
        db.session.expire_all()
        assert db.session.get(Membership, membership.id).status == "active"
    assert count(Payment) == 5
    assert count(OutboxMessage, OutboxMessage.kind == "receipt") == 5


def test_concurrent_duplicate_deliveries_apply_once(app, plans, stripe_sandbox):
    client = app.test_client()
    client.post("/join", data=form(plans))
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    events = stripe_sandbox.take_events()
    db.session.commit()
    paid = next(e for e in events if e["type"] == "invoice.paid")
    barrier = threading.Barrier(4)
    results: list[int] = []

    def deliver() -> None:
        with app.app_context():
            barrier.wait()
            results.append(post_event(app.test_client(), paid).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 200, 200, 200]
    assert count(Payment) == 1
    assert count(OutboxMessage, OutboxMessage.kind == "receipt") == 1


def test_donation_flow_records_a_donation_not_a_membership(client, plans, stripe_sandbox):
    client.get("/donate")
    data = {"amount": "25", "first_name": "Dee", "last_name": "Donor", "email": "dee@example.org", "gift_aid": "y",
            "address_line1": "2 Low Road", "postcode": "ls1 4ap"}  # fmt: skip
    first = client.post("/donate", data=data)
    second = client.post("/donate", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    session = stripe_sandbox.find("checkout.session")[0]
    assert session["mode"] == "payment" and session["amount_total"] == 2500
    stripe_sandbox.pay(session["id"])
    deliver_webhooks(client, duplicate=True)
    page = client.get(f"/join/success?session_id={session['id']}").get_data(as_text=True)
    assert "Thank you for your donation" in page
    payment = db.session.scalar(select(Payment))
    assert (payment.kind, payment.amount, payment.membership_id) == ("donation", 2500, None)
    assert count(Payment) == 1 and count(Membership) == 0
    assert db.session.scalar(select(GiftAidDeclaration.postcode)) == "LS1 4AP"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": ""}, "Enter how much you would like to give."),
        ({"amount": "-3"}, "Enter an amount in pounds"),
        ({"amount": "0.20"}, "Enter an amount between"),
        ({"amount": "5000000"}, "Enter an amount between"),
        ({"email": "nope"}, "Enter an email address"),
        ({"gift_aid": "y", "postcode": ""}, "Enter your UK postcode so that we can claim Gift Aid."),
        ({"gift_aid": "y", "postcode": "12345"}, "Enter a UK postcode like N1 9GU."),
        ({"gift_aid": "y", "address_line1": ""}, "Enter your house name or number"),
    ],
)
def test_donate_form_rejects_bad_input(client, app, changes, message):
    data = {"amount": "25", "first_name": "Dee", "last_name": "Donor", "email": "dee@example.org",
            "address_line1": "2 Low Road", "postcode": "LS1 4AP"}  # fmt: skip
    data.update(changes)
    html = client.post("/donate", data=data).get_data(as_text=True)
    assert "There is a problem" in html and message in html
    assert count(Contact) == 0
