"""R1-R5, R8, R11, R13: duplicates, two event ids for one payment, reordering, the success page
racing the webhook, concurrent renewals, the database failing mid-webhook, a dropped Stripe
connection on create, and reconciliation after an outage."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from crm.billing import webhook
from crm.billing.models import Payment, ProcessedStripeEvent
from crm.core.types import utcnow
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership, MembershipEvent
from tests.reliability.conftest import count, join_and_pay
from tests.stripe_fixtures import deliver_webhooks, post_event


def _ok(responses) -> None:  # type: ignore[no-untyped-def]
    assert all(r.status_code == 200 for r in responses), [(r.status_code, r.get_json()) for r in responses]


def _fresh(membership_id: int) -> Membership:
    db.session.commit()
    return db.session.get(Membership, membership_id)


def _in_threads(n: int, work) -> list:  # type: ignore[no-untyped-def]
    """Run work(i) in n threads released together by a barrier; results (or exceptions) in order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001  (reported by the test)
            import traceback

            traceback.print_exc()
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


# --- R1 ------------------------------------------------------------------------------------------


def test_the_same_event_twice_in_a_row_records_one_payment_one_period_one_receipt(
    client, plans, stripe_sandbox
):
    membership_id, _ = join_and_pay(client, plans, stripe_sandbox, "dup@example.org")
    _ok(deliver_webhooks(client, duplicate=True))
    assert count(Payment) == 1
    assert count(OutboxMessage, OutboxMessage.kind == "receipt") == 1
    assert _fresh(membership_id).status == "active"
    assert (
        count(
            MembershipEvent,
            MembershipEvent.membership_id == membership_id,
            MembershipEvent.to_status == "active",
        )
        == 1
    )


def test_the_same_event_twice_at_once_records_one_payment(app, plans, stripe_sandbox):
    """Two deliveries of each event at the same moment (a real race on PostgreSQL; SQLite
    serialises the writes, so there it shows that the loser still answers 2xx)."""
    membership_id, _ = join_and_pay(app.test_client(), plans, stripe_sandbox, "race@example.org")
    for event in stripe_sandbox.take_events():
        responses = _in_threads(2, lambda _i, e=event: post_event(app.test_client(), e))
        assert [r.status_code for r in responses] == [200, 200], responses
    assert count(Payment) == 1
    assert count(OutboxMessage, OutboxMessage.kind == "receipt") == 1
    assert _fresh(membership_id).status == "active"


# --- R2, R3 ----------------------------------------------------------------------------------------


def test_checkout_completed_and_invoice_paid_for_one_first_payment_credit_once(client, plans, stripe_sandbox):
    membership_id, _ = join_and_pay(client, plans, stripe_sandbox, "two-ids@example.org")
    events = {e["type"]: e for e in stripe_sandbox.take_events()}
    first_end = None
    for kind in ("checkout.session.completed", "invoice.paid"):
        _ok(deliver_webhooks(client, [events[kind]]))
        first_end = first_end or _fresh(membership_id).paid_through
    assert count(Payment) == 1
    assert _fresh(membership_id).paid_through == first_end  # no double credit


@pytest.mark.parametrize("order", ["newest last", "newest first"])
def test_subscription_state_follows_the_newest_event_whatever_the_arrival_order(
    client, plans, stripe_sandbox, order
):
    membership_id, _ = join_and_pay(client, plans, stripe_sandbox, "order@example.org")
    _ok(deliver_webhooks(client))
    sub_id = _fresh(membership_id).stripe_subscription_id
    stripe_sandbox.set_cancel_at_period_end(sub_id, True)
    older = stripe_sandbox.take_events()
    stripe_sandbox.set_cancel_at_period_end(sub_id, False)
    newer = stripe_sandbox.take_events()
    for event in older:
        event["created"] -= 5
    _ok(deliver_webhooks(client, older + newer if order == "newest last" else newer + older))
    assert _fresh(membership_id).auto_renew is True


# --- R4 ---------------------------------------------------------------------------------------------


#: Races of the success page and the webhook: `make test` runs 12 (each race is one join), `make
#: soak` (marker `soak`) the checklist's 50.
RACES = [pytest.param(12, id="12"), pytest.param(50, id="soak", marks=pytest.mark.soak)]


@pytest.mark.parametrize("iterations", RACES)
def test_success_page_and_webhook_racing_make_one_membership_and_one_payment(
    app, plans, stripe_sandbox, iterations
):
    for n in range(iterations):
        email = f"racer{n}@example.org"
        membership_id, session_id = join_and_pay(app.test_client(), plans, stripe_sandbox, email)
        completed = [e for e in stripe_sandbox.take_events() if e["type"] == "checkout.session.completed"]

        def work(i: int, session_id=session_id, completed=completed):  # type: ignore[no-untyped-def]
            client = app.test_client()
            if i == 0:
                return client.get(f"/join/success?session_id={session_id}")
            return post_event(client, completed[0])

        results = _in_threads(2, work)
        assert [r.status_code for r in results] == [200, 200], results
        assert count(Payment, Payment.membership_id == membership_id) == 1, n
        assert _fresh(membership_id).status == "active"
    assert count(Membership) == iterations
    assert count(OutboxMessage, OutboxMessage.kind == "receipt") == iterations


# --- R5 ---------------------------------------------------------------------------------------------


def test_ten_concurrent_renewals_extend_contiguously_without_overlap(app, plans, stripe_sandbox):
    from crm.accounts.models import User
    from tests.fixtures import make_user, sign_in_as
    from tests.memberships.factories import make_membership

    member = make_user("renew@example.org")
    admin = make_user("admin.renew@example.org", "admin")
    start = utcnow().replace(microsecond=0) + timedelta(days=10)
    make_membership(
        member.contact,
        plans["standard-yearly"],
        "active",
        paid_through=start,
        current_period_start=start - timedelta(days=365),
        joined_at=start - timedelta(days=365),
    )
    db.session.commit()
    admin_id, contact_id, plan_id = admin.id, member.contact_id, plans["standard-yearly"].id
    today = utcnow().date().isoformat()

    clients = [sign_in_as(app.test_client(), db.session.get(User, admin_id)) for _ in range(10)]

    def renew(i: int):  # type: ignore[no-untyped-def]
        return clients[i].post(
            f"/staff/members/{contact_id}/offline-payment",
            data={
                "offline-plan": str(plan_id),
                "offline-amount": "36.00",
                "offline-method": "cheque",
                "offline-paid_on": today,
                "offline-reference": "chq",
            },
        )

    results = _in_threads(10, renew)
    statuses = [getattr(r, "status_code", r) for r in results]
    assert all(s in (302, 303, 409, 503) for s in statuses), statuses
    recorded = count(Payment, Payment.contact_id == contact_id)
    assert recorded >= 1
    membership = db.session.scalars(select(Membership).where(Membership.contact_id == contact_id)).one()
    # Each recorded payment extended the membership by exactly one year, from the end of the last.
    expected = start
    for _ in range(recorded):
        expected = expected.replace(year=expected.year + 1)
    assert membership.paid_through == expected, (statuses, recorded, membership.paid_through)


# --- R8 ---------------------------------------------------------------------------------------------


def test_database_down_at_webhook_time_answers_non_2xx_and_the_redelivery_applies_once(
    client, plans, stripe_sandbox, monkeypatch
):
    membership_id, _ = join_and_pay(client, plans, stripe_sandbox, "dbdown@example.org")
    events = stripe_sandbox.take_events()
    real = webhook.already_processed

    def database_down(event_id: str) -> bool:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(webhook, "already_processed", database_down)
    responses = deliver_webhooks(client, events)
    assert all(r.status_code >= 500 for r in responses)
    assert count(Payment) == 0 and count(ProcessedStripeEvent) == 0
    monkeypatch.setattr(webhook, "already_processed", real)
    _ok(deliver_webhooks(client, events))
    _ok(deliver_webhooks(client, events))
    assert count(Payment) == 1 and _fresh(membership_id).status == "active"
    assert count(OutboxMessage, OutboxMessage.kind == "receipt") == 1


# --- R11 --------------------------------------------------------------------------------------------


def test_a_dropped_connection_on_checkout_create_gives_one_session_when_the_supporter_retries(
    client, plans, stripe_sandbox
):
    from tests.join.test_join_form import form

    stripe_sandbox.fail_next("/v1/checkout/sessions", "drop_after")
    first = client.post("/join", data=form(plans, email="flaky@example.org"))
    assert first.status_code == 200 and "not been charged" in first.get_data(as_text=True)
    assert len(stripe_sandbox.find("checkout.session")) == 1  # Stripe made it; we never heard back
    second = client.post("/join", data=form(plans, email="flaky@example.org"))
    assert second.status_code == 303
    assert len(stripe_sandbox.find("checkout.session")) == 1  # the same idempotency key: the same session
    assert count(Membership) == 1


# --- R13 --------------------------------------------------------------------------------------------


def test_reconciliation_applies_missed_events_once_and_skips_applied_ones(client, plans, stripe_sandbox):
    from crm.billing.reconcile import reconcile

    since = utcnow() - timedelta(days=1)
    ids = []
    for n in range(5):
        ids.append(join_and_pay(client, plans, stripe_sandbox, f"outage{n}@example.org")[0])
    events = stripe_sandbox.take_events()
    applied = [
        e
        for e in events
        if e["data"]["object"].get("metadata", {}).get("membership_id") == str(ids[0])
        or e["data"]["object"].get("id", "").startswith("cs_") is False
    ]
    _ok(deliver_webhooks(client, [e for e in events if _belongs(e, ids[0], stripe_sandbox)]))
    assert count(Payment) == 1  # four members' events were lost in the outage
    report = reconcile(since, fix=True)
    db.session.commit()
    assert count(Payment) == 5
    assert all(_fresh(i).status == "active" for i in ids)
    again = reconcile(since, fix=True)
    db.session.commit()
    assert count(Payment) == 5 and not [d for d in again.differences if d.fixed]
    assert report is not None and applied is not None


def _belongs(event, membership_id, sandbox) -> bool:  # type: ignore[no-untyped-def]
    text = repr(event)
    membership = db.session.get(Membership, membership_id)
    return any(
        key and key in text
        for key in (membership.stripe_checkout_session_id, membership.stripe_subscription_id)
    )
