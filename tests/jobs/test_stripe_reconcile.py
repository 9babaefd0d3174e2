"""`flask crm stripe-reconcile`: finds what Stripe has and we do not (lost webhooks), repairs with --fix."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.billing.models import Payment, Refund
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "MAIL_BACKEND": "memory"}


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def _join_and_pay(client, plans, sandbox) -> int:  # type: ignore[no-untyped-def]
    assert client.post("/join", data=form(plans)).status_code == 303
    membership = db.session.scalar(select(Membership).order_by(Membership.id.desc()))
    sandbox.pay(membership.stripe_checkout_session_id)
    return membership.id


def _count(model) -> int:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return db.session.scalar(select(func.count(model.id))) or 0


def _reconcile(runner, *extra: str):  # type: ignore[no-untyped-def]
    since = utcnow().strftime("%Y-%m-%d")
    result = runner.invoke(args=["crm", "stripe-reconcile", "--since", since, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_first_payment_whose_webhooks_never_arrived_is_found_then_repaired(
    client, runner, plans, stripe_sandbox
):
    membership_id = _join_and_pay(client, plans, stripe_sandbox)
    stripe_sandbox.take_events()  # Stripe's webhooks are lost: none reaches us

    report = _reconcile(runner)
    assert "missing_payment" in report and "Dry run: nothing changed" in report
    assert _count(Payment) == 0
    assert db.session.get(Membership, membership_id).status == "pending"

    report = _reconcile(runner, "--fix")
    assert "[fixed]" in report and "[NOT fixed]" not in report
    db.session.expire_all()
    membership = db.session.get(Membership, membership_id)
    assert membership.status == "active" and membership.stripe_subscription_id
    assert _count(Payment) == 1

    assert "No differences" in _reconcile(runner)
    _reconcile(runner, "--fix")
    assert _count(Payment) == 1  # repairing twice changes nothing more


def test_lost_renewal_and_refund_are_repaired_once(client, runner, plans, stripe_sandbox):
    membership_id = _join_and_pay(client, plans, stripe_sandbox)
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    membership = db.session.get(Membership, membership_id)
    first_paid_through = membership.paid_through
    first_payment = db.session.scalar(select(Payment))
    assert "No differences" in _reconcile(runner)

    stripe_sandbox.renew(membership.stripe_subscription_id)
    stripe_sandbox.refund(
        first_payment.stripe_payment_intent_id or first_payment.stripe_charge_id, amount=1000
    )
    stripe_sandbox.take_events()  # a three-day outage: these never arrive

    report = _reconcile(runner)
    assert "missing_payment" in report and "missing_refund" in report
    assert _count(Payment) == 1 and _count(Refund) == 0

    report = _reconcile(runner, "--fix")
    assert "[NOT fixed]" not in report, report
    assert _count(Payment) == 2 and _count(Refund) == 1, report
    db.session.expire_all()
    assert db.session.get(Membership, membership_id).paid_through > first_paid_through
    assert db.session.get(Payment, first_payment.id).amount_refunded == 1000

    assert "No differences" in _reconcile(runner, "--fix")
    assert _count(Payment) == 2 and _count(Refund) == 1


def test_bad_since_date_is_refused_with_a_message(runner, app):
    result = runner.invoke(args=["crm", "stripe-reconcile", "--since", "yesterday"])
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in result.output
