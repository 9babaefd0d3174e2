"""Refunds and cancellations go through Stripe (the sandbox): rows, sandbox state and audit agree."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.billing import refunds, stripe_gateway
from crm.billing.models import Payment, Refund
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import make_contact, make_user
from tests.members_area.factories import subscribe_in_sandbox
from tests.staff.conftest import make_membership, make_payment, make_plan
from tests.stripe_fixtures import deliver_webhooks


def paid_intent(contact, sandbox, amount: int = 3600) -> str:  # type: ignore[no-untyped-def]
    """A card payment taken in the sandbox; returns its payment intent id."""
    customer = stripe_gateway.ensure_customer(contact)
    session = stripe_gateway.create_checkout_session(
        mode="payment",
        customer_id=customer,
        line_items=[
            {
                "price_data": {
                    "currency": "gbp",
                    "unit_amount": amount,
                    "product_data": {"name": "Membership"},
                },
                "quantity": 1,
            }
        ],
        metadata={"contact_id": str(contact.id)},
        subscription_metadata=None,
        success_url="http://crm.test/ok",
        cancel_url="http://crm.test/cancel",
        idempotency_key=f"test-{contact.id}-{amount}",
    )
    return stripe_gateway.id_of(sandbox.pay(session.id)["payment_intent"])


@pytest.fixture
def card_payment(app, stripe_sandbox):  # type: ignore[no-untyped-def]
    plan = make_plan()
    contact = make_contact("payer@example.org", first_name="Pat", last_name="Payer")
    membership = make_membership(contact, plan, "active")
    intent = paid_intent(contact, stripe_sandbox)
    payment = make_payment(contact, membership, 3600, stripe_payment_intent_id=intent)
    db.session.commit()
    stripe_sandbox.take_events()  # the checkout's own events are not what these tests are about
    return payment


def refund(client, payment, **data):  # type: ignore[no-untyped-def]
    fields = {f"r{payment.id}-{k}": v for k, v in data.items()}
    return client.post(f"/staff/members/{payment.contact_id}/payments/{payment.id}/refund", data=fields)


def test_partial_then_full_refund_through_stripe(admin_client, card_payment, stripe_sandbox):  # type: ignore[no-untyped-def]
    assert refund(admin_client, card_payment, amount="10.00", reason="overpaid").status_code == 302
    db.session.expire_all()
    payment = db.session.get(Payment, card_payment.id)
    assert (payment.amount_refunded, payment.status) == (1000, "partly_refunded")
    stripe_refunds = stripe_sandbox.find("refund", payment_intent=payment.stripe_payment_intent_id)
    assert [r["amount"] for r in stripe_refunds] == [1000]
    assert db.session.scalar(select(Refund.stripe_refund_id)) == stripe_refunds[0]["id"]
    # More than what is left is refused, and Stripe is not asked.
    too_much = refund(admin_client, payment, amount="26.01")
    assert too_much.status_code == 409 and "at most £26.00 on this payment." in too_much.get_data(
        as_text=True
    )
    assert len(stripe_sandbox.find("refund")) == 1
    # The rest (empty amount = all that is left), cancelling the membership too.
    assert refund(admin_client, payment, cancel_membership="y").status_code == 302
    db.session.expire_all()
    payment = db.session.get(Payment, card_payment.id)
    assert (payment.amount_refunded, payment.status) == (3600, "refunded")
    assert db.session.get(Membership, payment.membership_id).status == "cancelled"
    # One audit row per action: the second refund's row also shows the membership it ended.
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["payment.refund", "payment.refund"]
    assert events[1].before["membership"]["status"] == "active"
    assert events[1].after["membership"]["status"] == "cancelled" and events[1].after["status"] == "refunded"
    # Already refunded: refused with a message.
    again = refund(admin_client, payment)
    assert again.status_code == 409 and "already been refunded" in again.get_data(as_text=True)


def test_refund_webhook_after_a_staff_refund_does_not_count_twice(admin_client, client, card_payment):  # type: ignore[no-untyped-def]
    refund(admin_client, card_payment, amount="5.00")
    deliver_webhooks(client)
    db.session.expire_all()
    payment = db.session.get(Payment, card_payment.id)
    assert payment.amount_refunded == 500
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1


def test_a_partial_refund_then_the_rest_each_with_its_webhooks_twice_records_each_refund_once(  # type: ignore[no-untyped-def]
    admin_client, client, card_payment, stripe_sandbox
):
    assert refund(admin_client, card_payment, amount="10.00", reason="overpaid").status_code == 302
    deliver_webhooks(client, duplicate=True)  # refund.created and charge.refunded, each twice
    db.session.expire_all()
    payment = db.session.get(Payment, card_payment.id)
    assert (payment.amount_refunded, payment.status) == (1000, "partly_refunded")
    assert refund(admin_client, payment).status_code == 302  # the rest
    deliver_webhooks(client, duplicate=True)
    db.session.expire_all()
    payment = db.session.get(Payment, card_payment.id)
    assert (payment.amount_refunded, payment.status) == (3600, "refunded")
    rows = db.session.scalars(select(Refund).order_by(Refund.id)).all()
    stripe_ids = [r["id"] for r in stripe_sandbox.find("refund")]
    assert [(r.amount, r.reason) for r in rows] == [(1000, "overpaid"), (2600, "")]
    assert sorted(r.stripe_refund_id for r in rows) == sorted(stripe_ids)
    emails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "refund")).all()
    assert len(emails) == 2  # one per refund, however often Stripe told us


def test_a_staff_request_finishing_after_its_webhook_keeps_one_refund_and_its_story(  # type: ignore[no-untyped-def]
    app, client, card_payment, stripe_sandbox
):
    """The race: Stripe's refund.created commits between Stripe making the refund and the staff
    request recording it."""
    admin = make_user("boss@example.org", "admin", first_name="Alex", last_name="Admin")
    made = stripe_gateway.create_refund(
        payment_intent_id=card_payment.stripe_payment_intent_id,
        amount=600,
        idempotency_key="race",
        metadata=refunds.staff_refund_metadata(card_payment, reason="", actor=admin),
    )
    deliver_webhooks(client, duplicate=True)
    recorded = refunds.record_refund(card_payment, made, reason="charged twice", actor_id=admin.id)
    db.session.commit()
    assert not recorded.created
    db.session.expire_all()
    [row] = db.session.scalars(select(Refund))
    assert (row.amount, row.reason, row.created_by_id) == (600, "charged twice", admin.id)
    payment = db.session.get(Payment, card_payment.id)
    assert (payment.amount_refunded, payment.status) == (600, "partly_refunded")


def test_the_staff_request_and_its_webhook_recording_at_the_same_moment_make_one_refund(  # type: ignore[no-untyped-def]
    app, card_payment, stripe_sandbox
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers; the row lock is what PostgreSQL needs")
    from crm.billing import webhook

    admin = make_user("boss@example.org", "admin", first_name="Alex", last_name="Admin")
    admin_id, payment_id = admin.id, card_payment.id
    made = stripe_gateway.create_refund(
        payment_intent_id=card_payment.stripe_payment_intent_id,
        amount=700,
        idempotency_key="together",
        metadata=refunds.staff_refund_metadata(card_payment, reason="duplicate", actor=admin),
    )
    db.session.commit()
    [event] = [e for e in stripe_sandbox.take_events() if e["type"] == "refund.created"]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def staff_request() -> None:
        payment = db.session.get(Payment, payment_id)
        barrier.wait()
        refunds.record_refund(payment, made, reason="duplicate", actor_id=admin_id)

    def webhook_delivery() -> None:
        barrier.wait()
        webhook.process_event(event)

    def run(step) -> None:  # type: ignore[no-untyped-def]
        try:
            with app.app_context():
                step()
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(step,)) for step in (staff_request, webhook_delivery)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.session.expire_all()
    [row] = db.session.scalars(select(Refund))
    assert (row.amount, row.reason, row.created_by_id) == (700, "duplicate", admin_id)
    payment = db.session.get(Payment, payment_id)
    assert (payment.amount_refunded, payment.status) == (700, "partly_refunded")


def test_a_stripe_error_records_nothing(admin_client, card_payment, stripe_sandbox):  # type: ignore[no-untyped-def]
    stripe_sandbox.fail_next("/v1/refunds", mode="error_500")
    response = refund(admin_client, card_payment, amount="5.00")
    assert response.status_code == 409 and "Stripe did not make the refund" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Payment, card_payment.id).amount_refunded == 0
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payment.refund")) is None


def test_offline_payments_are_not_refunded_through_stripe(admin_client, app):  # type: ignore[no-untyped-def]
    plan = make_plan()
    contact = make_contact("cheque@example.org")
    payment = make_payment(contact, make_membership(contact, plan), 3600, method="cheque")
    db.session.commit()
    response = refund(admin_client, payment)
    assert response.status_code == 409 and "not taken through Stripe" in response.get_data(as_text=True)


def test_staff_without_refund_permission_cannot_refund(staff_client, card_payment):  # type: ignore[no-untyped-def]
    assert refund(staff_client, card_payment).status_code == 403
    assert db.session.get(Payment, card_payment.id).amount_refunded == 0


@pytest.fixture
def subscriber(app, stripe_sandbox):  # type: ignore[no-untyped-def]
    plan = make_plan("monthly", 400, "month")
    contact = make_contact("sub@example.org", first_name="Sub", last_name="Scriber")
    joined = subscribe_in_sandbox(contact, plan, stripe_sandbox)
    membership = make_membership(
        contact, plan, "active", paid_days=20, auto_renew=True, stripe_subscription_id=joined.subscription_id
    )
    db.session.commit()
    return membership


def test_cancel_at_period_end_also_tells_stripe(staff_client, subscriber, stripe_sandbox):  # type: ignore[no-untyped-def]
    response = staff_client.post(
        f"/staff/members/{subscriber.contact_id}/cancel", data={"cancel-when": "period_end"}
    )
    assert response.status_code == 302
    assert stripe_sandbox.object(subscriber.stripe_subscription_id)["cancel_at_period_end"] is True
    db.session.expire_all()
    membership = db.session.get(Membership, subscriber.id)
    assert membership.status == "active" and membership.auto_renew is False


def test_cancel_now_cancels_the_subscription(staff_client, subscriber, stripe_sandbox):  # type: ignore[no-untyped-def]
    response = staff_client.post(
        f"/staff/members/{subscriber.contact_id}/cancel", data={"cancel-when": "now"}
    )
    assert response.status_code == 302
    assert stripe_sandbox.object(subscriber.stripe_subscription_id)["status"] == "canceled"
    db.session.expire_all()
    assert db.session.get(Membership, subscriber.id).status == "cancelled"


def test_cancel_when_stripe_fails_changes_nothing(staff_client, subscriber, stripe_sandbox):  # type: ignore[no-untyped-def]
    stripe_sandbox.fail_next("/v1/subscriptions", mode="error_500")
    response = staff_client.post(
        f"/staff/members/{subscriber.contact_id}/cancel", data={"cancel-when": "now"}
    )
    assert response.status_code == 409 and "Stripe did not cancel" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Membership, subscriber.id).status == "active"
    assert stripe_sandbox.object(subscriber.stripe_subscription_id)["status"] == "active"


def _ask_to_be_erased(membership):  # type: ignore[no-untyped-def]
    from crm.contacts.models import Contact
    from crm.core.types import utcnow

    contact = db.session.get(Contact, membership.contact_id)
    contact.erasure_requested_at = utcnow()
    db.session.commit()
    return contact


def test_erasure_cancels_the_renewing_subscription_first(staff_client, subscriber, stripe_sandbox):  # type: ignore[no-untyped-def]
    contact = _ask_to_be_erased(subscriber)
    response = staff_client.post(f"/staff/members/{contact.id}/erase", data={"erase-confirm": "y"})
    assert response.status_code == 302
    assert stripe_sandbox.object(subscriber.stripe_subscription_id)["status"] == "canceled"
    db.session.expire_all()
    membership = db.session.get(Membership, subscriber.id)
    assert membership.status == "cancelled" and membership.auto_renew is False
    assert membership.events[-1].reason == "cancelled on erasure"
    assert db.session.get(type(contact), contact.id).erased_at is not None
    completed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "erasure.completed"))
    assert completed.after == {"subscriptions_cancelled": [subscriber.stripe_subscription_id]}


def test_erasure_when_stripe_fails_erases_nothing(staff_client, subscriber, stripe_sandbox):  # type: ignore[no-untyped-def]
    contact = _ask_to_be_erased(subscriber)
    stripe_sandbox.fail_next("/v1/subscriptions", mode="error_500")
    response = staff_client.post(f"/staff/members/{contact.id}/erase", data={"erase-confirm": "y"})
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Stripe did not cancel the member&#39;s subscription, so nothing was erased" in page
    db.session.expire_all()
    kept = db.session.get(type(contact), contact.id)
    assert kept.erased_at is None and (kept.first_name, kept.email) == ("Sub", "sub@example.org")
    assert db.session.get(Membership, subscriber.id).status == "active"
    assert stripe_sandbox.object(subscriber.stripe_subscription_id)["status"] == "active"
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "erasure.completed" not in actions and "member.erasure_confirmed" not in actions


def _subscribed_member(sandbox):  # type: ignore[no-untyped-def]
    """A member who joined through Checkout: a live sandbox subscription and its first payment."""
    plan = make_plan()
    contact = make_contact("subscriber@example.org", first_name="Sol", last_name="Subscriber")
    joined = subscribe_in_sandbox(contact, plan, sandbox)
    membership = make_membership(
        contact, plan, "active", auto_renew=True, stripe_subscription_id=joined.subscription_id
    )
    payment = make_payment(
        contact, membership, plan.amount, stripe_payment_intent_id=joined.payment_intent_id
    )
    db.session.commit()
    return payment, joined.subscription_id


def test_full_refund_that_ends_the_membership_also_stops_stripe_charging(admin_client, stripe_sandbox):  # type: ignore[no-untyped-def]
    payment, sub_id = _subscribed_member(stripe_sandbox)
    assert refund(admin_client, payment, cancel_membership="y", reason="asked to leave").status_code == 302
    assert stripe_sandbox.object(sub_id)["status"] == "canceled"
    db.session.expire_all()
    assert db.session.get(Membership, payment.membership_id).status == "cancelled"


def test_stripe_refusing_to_cancel_refunds_nothing(admin_client, stripe_sandbox):  # type: ignore[no-untyped-def]
    payment, sub_id = _subscribed_member(stripe_sandbox)
    stripe_sandbox.fail_next(f"/v1/subscriptions/{sub_id}", "error_500")
    response = refund(admin_client, payment, cancel_membership="y")
    assert response.status_code == 409 and "nothing was refunded" in response.get_data(as_text=True)
    assert stripe_sandbox.find("refund") == []
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).amount_refunded == 0
