"""Direct Debit money told truly: payments say how they were paid, and a collection the bank
returns days after it looked paid is failed, not forgotten, in any event order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.billing.models import Payment
from crm.extensions import db
from crm.memberships import lifecycle
from tests.billing.test_direct_debit import all_ok, count, emails, fresh, join_by_direct_debit
from tests.fixtures import make_user, sign_in_as
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def payments() -> list[Payment]:
    db.session.expire_all()
    return list(db.session.scalars(select(Payment).order_by(Payment.id)))


def collected_member(client, plans, sandbox, **changes):  # type: ignore[no-untyped-def]
    membership_id, session_id = join_by_direct_debit(client, plans, sandbox, **changes)
    sandbox.settle_direct_debit(session_id)
    all_ok(deliver_webhooks(client))
    assert fresh(membership_id).status == "active"
    return membership_id, session_id


def test_direct_debit_payments_are_recorded_and_shown_as_direct_debit(client, plans, stripe_sandbox):
    membership_id, _ = collected_member(client, plans, stripe_sandbox, donation="10")
    assert sorted((p.kind, p.method) for p in payments()) == [
        ("donation", "direct_debit"),
        ("membership", "direct_debit"),
    ]
    contact = fresh(membership_id).contact
    sign_in_as(client, contact.user)
    account = client.get("/account").get_data(as_text=True)
    assert "Paid by" in account and account.count("Direct Debit</td>") == 2
    client.get("/logout")
    sign_in_as(client, make_user("admin@example.org", "admin"))
    member_page = client.get(f"/staff/members/{contact.id}").get_data(as_text=True)
    assert member_page.count("<td>Direct Debit</td>") == 2
    listing = client.get("/staff/payments").get_data(as_text=True)
    assert listing.count("<td>Direct Debit</td>") == 2
    export = client.get("/staff/payments/export.csv").get_data(as_text=True)
    assert export.count(",Direct Debit,") == 2, export


def test_a_card_payment_is_still_recorded_and_shown_as_card(client, plans, stripe_sandbox):
    from crm.memberships.models import Membership

    client.post("/join", data=form(plans))
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    all_ok(deliver_webhooks(client))
    [payment] = payments()
    assert payment.method == "card"
    sign_in_as(client, make_user("admin@example.org", "admin"))
    assert "<td>Card</td>" in client.get(f"/staff/members/{payment.contact_id}").get_data(as_text=True)


def renewed_member(client, plans, sandbox):  # type: ignore[no-untyped-def]
    membership_id, _ = collected_member(client, plans, sandbox)
    first_end = fresh(membership_id).paid_through
    sandbox.renew(fresh(membership_id).stripe_subscription_id)
    all_ok(deliver_webhooks(client))
    assert fresh(membership_id).paid_through > first_end
    renewal = payments()[-1]
    assert renewal.method == "direct_debit" and renewal.status == "paid"
    return membership_id, first_end, renewal.stripe_invoice_id


@pytest.mark.parametrize("order", ["as_sent", "reversed", "shuffled"])
def test_a_renewal_returned_after_it_looked_paid_fails_into_grace_with_one_email(
    client, plans, stripe_sandbox, order
):
    membership_id, first_end, invoice_id = renewed_member(client, plans, stripe_sandbox)
    stripe_sandbox.return_direct_debit(invoice_id=invoice_id)
    events = stripe_sandbox.take_events()
    if order == "reversed":
        events.reverse()
    all_ok(deliver_webhooks(client, events, duplicate=True, shuffle=3 if order == "shuffled" else False))
    all_ok(deliver_webhooks(client, events))  # days late, again

    membership = fresh(membership_id)
    assert membership.status == "grace" and membership.paid_through == first_end
    assert lifecycle.has_access(membership.contact_id)  # grace, as a failed renewal gives
    renewal = payments()[-1]
    assert renewal.stripe_invoice_id == invoice_id and renewal.status == "failed"  # kept, not deleted
    assert "returned the Direct Debit" in renewal.failure_message
    assert count(Payment) == 2
    [failed] = emails("payment_failed")
    assert "/billing/update-payment-details/" in failed.body_text
    assert count(AuditEvent, AuditEvent.action == "payment.failed") == 1

    from crm.staff import dashboard

    items = {item.key: item for item in dashboard.work_list(datetime.now(UTC))}
    assert items["failing"].count == 1
    sign_in_as(client, make_user("admin@example.org", "admin"))
    page = client.get("/staff/").get_data(as_text=True)
    card = page.split('id="work-failing"')[1].split("</section>")[0]
    assert card.startswith(">Payments failing") and f"/staff/members/{membership.contact_id}" in card


def test_the_retry_that_collects_a_returned_renewal_makes_it_good_with_no_gap(client, plans, stripe_sandbox):
    membership_id, first_end, invoice_id = renewed_member(client, plans, stripe_sandbox)
    renewed_end = fresh(membership_id).paid_through
    stripe_sandbox.return_direct_debit(invoice_id=invoice_id)
    all_ok(deliver_webhooks(client))
    stripe_sandbox.renew(fresh(membership_id).stripe_subscription_id)  # Stripe retries the open invoice
    all_ok(deliver_webhooks(client, duplicate=True))
    membership = fresh(membership_id)
    assert membership.status == "active" and membership.paid_through == renewed_end
    assert [p.status for p in payments()] == ["paid", "paid"]


@pytest.mark.parametrize("order", ["as_sent", "reversed", "shuffled"])
def test_a_first_collection_returned_after_it_looked_paid_leaves_no_membership_and_one_clear_email(
    client, plans, stripe_sandbox, order
):
    membership_id, session_id = join_by_direct_debit(client, plans, stripe_sandbox, donation="10")
    stripe_sandbox.settle_direct_debit(session_id)
    if order == "as_sent":  # the paid events are applied first, the return comes days later
        all_ok(deliver_webhooks(client))
        assert fresh(membership_id).status == "active"
    stripe_sandbox.return_direct_debit(session_id=session_id)
    events = stripe_sandbox.take_events()
    if order == "reversed":
        events.reverse()
    all_ok(deliver_webhooks(client, events, duplicate=True, shuffle=5 if order == "shuffled" else False))

    membership = fresh(membership_id)
    assert membership.status == "expired" and membership.paid_through is None
    assert not lifecycle.has_access(membership.contact_id)
    assert sorted((p.kind, p.status) for p in payments()) == [
        ("donation", "failed"),
        ("membership", "failed"),
    ]
    [failed] = emails("direct_debit_failed")
    assert "Direct Debit did not go through" in failed.subject and "£46.00" in failed.body_text
    assert client.post("/join", data=form(plans)).status_code == 303  # free to join again


def test_a_returned_first_collection_is_on_the_staff_work_list_with_the_banks_reason(
    app, client, plans, stripe_sandbox
):
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    membership_id, session_id = collected_member(client, plans, stripe_sandbox, donation="10")
    stripe_sandbox.return_direct_debit(session_id=session_id)
    all_ok(deliver_webhooks(client))
    contact = fresh(membership_id).contact
    sign_in_as(client, make_user("admin@example.org", "admin"))
    html = client.get("/staff").get_data(as_text=True)
    returned = html.split('id="work-returned_first"', 1)[1].split("</section>", 1)[0]
    assert f'href="/staff/members/{contact.id}"' in returned and contact.last_name in returned
    assert "£46.00" in returned and "insufficient funds" in returned
    client.get("/logout")
    assert client.post("/join", data=form(plans)).status_code == 303  # they join again: off the list
    sign_in_as(client, make_user("staff@example.org", "staff"))
    html = client.get("/staff").get_data(as_text=True)
    nothing_waiting = html.split('id="work-clear"', 1)[1].split("</p>", 1)[0]
    assert 'id="work-returned_first"' in nothing_waiting


def _renewed_and_returned_before_any_webhook(client, plans, sandbox):  # type: ignore[no-untyped-def]
    """Join by Direct Debit, the first collection settles, Stripe renews and the bank returns the
    renewal, all before the app has heard of any of it: (membership id, the first period's end,
    the events, the renewal's invoice.payment_failed first)."""
    membership_id, session_id = join_by_direct_debit(client, plans, sandbox, donation="10")
    sandbox.settle_direct_debit(session_id)
    sub = sandbox.object(sandbox.object(session_id)["subscription"])
    sandbox.renew(sub["id"])
    renewal = sandbox.object(sub["id"])["latest_invoice"]
    sandbox.return_direct_debit(invoice_id=renewal)
    events = sandbox.take_events()
    failed = [e for e in events if e["type"] == "invoice.payment_failed"]
    first_end = datetime.fromtimestamp(
        sandbox.object(sub["id"])["items"]["data"][0]["current_period_start"], UTC
    )
    return membership_id, first_end, failed + [e for e in events if e not in failed]


@pytest.mark.parametrize("order", ["failure_first", "reversed", "shuffled_1", "shuffled_2", "shuffled_3"])
def test_renewal_failure_before_checkout_completed_leaves_grace(client, plans, stripe_sandbox, order):
    membership_id, first_end, events = _renewed_and_returned_before_any_webhook(client, plans, stripe_sandbox)
    if order == "reversed":
        events.reverse()
    shuffle = int(order[-1]) if order.startswith("shuffled") else False
    all_ok(deliver_webhooks(client, events, duplicate=True, shuffle=shuffle))

    membership = fresh(membership_id)
    assert membership.status == "grace" and membership.paid_through == first_end
    assert sorted((p.kind, p.status) for p in payments()) == [
        ("donation", "paid"),
        ("membership", "failed"),
        ("membership", "paid"),
    ]
    assert len(emails("payment_failed")) == 1 and not emails("direct_debit_failed")
