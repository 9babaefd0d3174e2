"""The webhook chaos test: members join and renew through the Stripe sandbox while its deliveries
are duplicated (up to 3x), shuffled, partly refused (bad signature) and about one in ten made to
fail inside the handler after some writes, then redelivered as Stripe does. On PostgreSQL two
threads deliver the same stream at once. At the end the database equals what Stripe holds.

N is CRM_CHAOS_MEMBERS (default 60: 300 members take minutes on these shared 2-core machines;
run `CRM_CHAOS_MEMBERS=300 pytest tests/reliability/test_webhook_chaos.py` for the full size).
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from crm.billing import webhook
from crm.billing.models import Payment, Refund
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.reliability.conftest import is_postgres, join_and_pay
from tests.stripe_fixtures import WEBHOOK_PATH, post_event

MEMBERS = int(os.environ.get("CRM_CHAOS_MEMBERS", "60"))
FAIL_ONE_IN = 10


class InjectedFault(RuntimeError):
    pass


@pytest.fixture
def faulty_handlers(monkeypatch):  # type: ignore[no-untyped-def]
    """About one delivery in ten fails inside its handler after the handler's writes were flushed."""
    rng = random.Random(7)  # noqa: S311  (test fault schedule)
    lock = threading.Lock()
    injected = Counter()

    def wrap(handler):  # type: ignore[no-untyped-def]
        def failing(event: Any) -> str:
            result = handler(event)
            db.session.flush()
            with lock:
                fail = rng.randrange(FAIL_ONE_IN) == 0
                if fail:
                    injected[event["id"] if isinstance(event, dict) else event.id] += 1
            if fail:
                raise InjectedFault("injected fault after the handler's writes")
            return result

        return failing

    for event_type, handler in list(webhook.HANDLERS.items()):
        monkeypatch.setitem(webhook.HANDLERS, event_type, wrap(handler))
    return injected


def _deliver_until_done(app, deliveries: list[dict], *, threads: int) -> Counter:  # type: ignore[no-untyped-def]
    """Send every delivery; a 500 is redelivered later (Stripe retries). Returns the status counts."""
    statuses: Counter = Counter()
    lock = threading.Lock()
    queue = list(deliveries)
    rounds = 0
    while queue and rounds < 50:
        rounds += 1
        retry: list[dict] = []

        def run(stream: list[dict], retry: list[dict] = retry) -> None:
            client = app.test_client()
            for event in stream:
                if event.get("_forged"):
                    response = client.post(
                        WEBHOOK_PATH, data=json.dumps(event), headers={"Stripe-Signature": "t=1,v1=forged"}
                    )
                else:
                    response = post_event(client, event)
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code >= 500:
                        retry.append(event)

        workers = [threading.Thread(target=run, args=(queue,)) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=300)
        queue = retry
    assert not queue, f"still failing after {rounds} rounds"
    return statuses


def test_database_equals_stripe_after_duplicated_shuffled_failing_deliveries(
    app, plans, stripe_sandbox, faulty_handlers
):
    rng = random.Random(2026)  # noqa: S311  (test schedule)
    client = app.test_client()
    ids = []
    for n in range(MEMBERS):
        plan = "monthly" if n % 3 == 0 else "standard-yearly"
        ids.append(join_and_pay(client, plans, stripe_sandbox, f"chaos{n}@example.org", plan)[0])
    events = stripe_sandbox.take_events()
    # Renewals, a few failed renewals and refunds, all before any webhook arrives.
    subs = [s["id"] for s in stripe_sandbox.find("subscription")]
    for sub_id in subs[: MEMBERS // 2]:
        stripe_sandbox.renew(sub_id)
    for sub_id in subs[MEMBERS // 2 : MEMBERS // 2 + MEMBERS // 10]:
        stripe_sandbox.set_cancel_at_period_end(sub_id, True)
        stripe_sandbox.renew(sub_id)  # ends the subscription
    charges = stripe_sandbox.find("charge")
    for charge in charges[:: max(1, len(charges) // 8)]:
        stripe_sandbox.refund(charge["id"], charge["amount"] // 3)
    events += stripe_sandbox.take_events()

    deliveries = [e for e in events for _ in range(rng.randint(1, 3))]
    deliveries += [dict(e, _forged=True) for e in rng.sample(events, 5)]
    rng.shuffle(deliveries)
    statuses = _deliver_until_done(app, deliveries, threads=2 if is_postgres() else 1)

    assert set(statuses) <= {200, 400, 500}, statuses
    assert statuses[400] >= 5 * (2 if is_postgres() else 1)
    assert sum(faulty_handlers.values()) >= 1 and statuses[500] >= sum(faulty_handlers.values())
    _assert_database_equals_sandbox(stripe_sandbox, ids)


def _assert_database_equals_sandbox(sandbox, ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    from crm.billing import stripe_gateway as gateway

    db.session.commit()
    memberships = db.session.scalars(select(Membership).where(Membership.id.in_(ids))).all()
    by_sub = Counter(m.stripe_subscription_id for m in memberships)
    assert all(n == 1 for n in by_sub.values()) and len(memberships) == len(ids)
    for membership in memberships:
        sub = sandbox.object(membership.stripe_subscription_id)
        expected = {"active": "active", "canceled": "lapsed"}[sub["status"]]
        assert membership.status == expected, (membership.id, sub["status"], membership.status)
        if sub["status"] == "active":
            assert membership.paid_through == gateway.subscription_period(sub)[1], membership.id
    paid_invoices = {i["id"] for i in sandbox.find("invoice") if i["status"] == "paid"}
    payments = db.session.scalars(select(Payment).where(Payment.status != "failed")).all()
    assert sorted(p.stripe_invoice_id for p in payments) == sorted(paid_invoices)  # one each, none twice
    charges = {c["id"]: c for c in sandbox.find("charge")}
    intents = {c["payment_intent"]: c for c in charges.values()}
    for payment in payments:
        charge = charges.get(payment.stripe_charge_id) or intents[payment.stripe_payment_intent_id]
        assert payment.amount == charge["amount"] and payment.amount_refunded == charge["amount_refunded"]
    stripe_refunds = sorted(r["id"] for r in sandbox.find("refund"))
    assert sorted(db.session.scalars(select(Refund.stripe_refund_id))) == stripe_refunds
    receipts = db.session.scalars(
        select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == "receipt")
    ).all()
    assert len(receipts) == len(payments)
    keys = [k for k in db.session.scalars(select(OutboxMessage.dedupe_key)) if k]
    assert len(keys) == len(set(keys))
    welcomes = Counter(
        db.session.scalars(select(OutboxMessage.to_email).where(OutboxMessage.kind == "welcome"))
    )
    assert all(n == 1 for n in welcomes.values()) and len(welcomes) == len(ids)
