"""The dashboard's "Payments failing" card counts what production records (issue 25 item 9): a
renewal whose card failed (Stripe's invoice.payment_failed, through the sandbox and the webhook),
listed while in grace and for 30 days after, even once a retry has paid."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "DASHBOARD_CACHE_SECONDS": 0}


def _failing_card(staff_client) -> str:  # type: ignore[no-untyped-def]
    html = staff_client.get("/staff").get_data(as_text=True)
    match = re.search(r'id="work-failing">(.*?)</section>', html, re.S)
    assert match
    return match.group(1)


def test_a_failed_renewal_is_on_the_card_in_grace_and_after_a_retry_paid(
    client, staff_client, stripe_sandbox
):
    plans = make_plans()
    db.session.commit()
    assert client.post("/join", data=form(plans, first_name="Rita", last_name="Renewal")).status_code == 303
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    db.session.expire_all()
    sub_id = db.session.get(Membership, membership.id).stripe_subscription_id
    assert "Rita Renewal" not in _failing_card(staff_client)

    stripe_sandbox.fail_renewal(sub_id)
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "grace"
    assert "Rita Renewal" in _failing_card(staff_client)

    stripe_sandbox.renew(sub_id)  # the card's retry succeeds
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "active"
    assert "Rita Renewal" in _failing_card(staff_client)  # a payment failed in the last 30 days
