"""R14: random sequences of renewals, full and partial refunds (Stripe and offline payments):
what we hold always equals what Stripe holds, in integer minor units, with no period doubled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm.billing import offline
from crm.billing.models import Payment, Refund
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.models import Membership
from tests.reliability.conftest import count, join_and_pay
from tests.stripe_fixtures import deliver_webhooks

STEP = st.one_of(
    st.just(("renew", 0)),
    st.tuples(st.just("refund"), st.integers(min_value=1, max_value=4000)),
    st.just(("refund_all", 0)),
    st.tuples(st.just("offline"), st.integers(min_value=1, max_value=10_000)),
)


def _stripe_ledger(sandbox) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    charges = sandbox.find("charge")
    paid = sum(c["amount"] for c in charges if c.get("status") == "succeeded")
    refunded = sum(c.get("amount_refunded", 0) for c in charges)
    invoices = [i for i in sandbox.find("invoice") if i.get("status") == "paid"]
    return paid, refunded, len(invoices)


STEPS = st.lists(STEP, min_size=1, max_size=6)
SEEDS = st.integers(0, 1000)
#: Each example is a join and up to six steps, each with its webhooks: `make test` tries a few
#: sequences (a new draw each run), `make soak` (marker `soak`) many.
QUICK = settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@QUICK
@given(steps=STEPS, seed=SEEDS)
def test_payments_minus_refunds_always_equal_the_ledger(app, stripe_sandbox, steps, seed):
    _check_the_ledger_after(stripe_sandbox, app, steps, seed)


@pytest.mark.soak
@settings(QUICK, max_examples=60)
@given(steps=STEPS, seed=SEEDS)
def test_payments_minus_refunds_always_equal_the_ledger_over_many_sequences(app, stripe_sandbox, steps, seed):
    _check_the_ledger_after(stripe_sandbox, app, steps, seed)


def _check_the_ledger_after(stripe_sandbox, app, steps, seed) -> None:  # type: ignore[no-untyped-def]
    """Join and pay, take the steps (webhooks duplicated and shuffled after each), compare."""
    from tests.conftest import _empty_all_tables

    db.session.remove()  # no open transaction may hold a lock the TRUNCATE waits for (PostgreSQL)
    _empty_all_tables()
    stripe_sandbox.reset()
    from tests.memberships.factories import make_plans

    plans = make_plans()
    db.session.commit()
    client = app.test_client()
    membership_id, _ = join_and_pay(client, plans, stripe_sandbox, "ledger@example.org")
    deliver_webhooks(client, duplicate=True, shuffle=seed)
    offline_total = offline_refunded = 0
    for action, amount in steps:
        membership = db.session.get(Membership, membership_id)
        if action == "renew":
            stripe_sandbox.renew(membership.stripe_subscription_id)
        elif action in ("refund", "refund_all"):
            charges = [c for c in stripe_sandbox.find("charge") if c["amount_refunded"] < c["amount"]]
            if charges:
                charge = charges[seed % len(charges)]
                left = charge["amount"] - charge["amount_refunded"]
                stripe_sandbox.refund(charge["id"], None if action == "refund_all" else min(amount, left))
        else:
            payment = offline.record_offline_payment(
                membership.contact,
                membership.plan,
                amount=amount,
                method="cheque",
                paid_at=utcnow(),
                reference="",
                actor=None,
            )
            db.session.commit()
            offline_total += payment.amount
        responses = deliver_webhooks(client, duplicate=True, shuffle=seed)
        assert all(r.status_code == 200 for r in responses)

    db.session.commit()
    payments = db.session.scalars(select(Payment).where(Payment.status != "failed")).all()
    paid, refunded, paid_invoices = _stripe_ledger(stripe_sandbox)
    ours_paid = sum(p.amount for p in payments)
    ours_refunded = sum(p.amount_refunded for p in payments)
    assert ours_paid == paid + offline_total
    assert ours_refunded == refunded + offline_refunded
    for p in payments:
        assert isinstance(p.amount, int) and isinstance(p.amount_refunded, int)
        assert 0 <= p.amount_refunded <= p.amount
        refunds = db.session.scalars(select(Refund.amount).where(Refund.payment_id == p.id)).all()
        assert sum(refunds) <= p.amount_refunded or not refunds
    stripe_payments = [p for p in payments if p.stripe_invoice_id]
    assert len(stripe_payments) == paid_invoices  # one payment per paid invoice
    membership = db.session.get(Membership, membership_id)
    paid_periods = paid_invoices + sum(1 for p in payments if p.method == "cheque")
    # The paid-through date never runs past the periods paid for.
    assert membership.paid_through <= membership.joined_at + timedelta(days=366 * paid_periods + 2)
    assert count(Payment, Payment.method == "cheque") == sum(1 for a, _ in steps if a == "offline")
