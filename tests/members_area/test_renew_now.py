"""A fixed-term member renews online: one more period, following on, applied exactly once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crm.billing.models import Payment
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership
from tests.fixtures import csrf_token, make_user
from tests.members_area.factories import make_membership, sign_in
from tests.stripe_fixtures import deliver_webhooks


def _fixed_term_member(plan, status="active", paid_days=20):  # type: ignore[no-untyped-def]
    user = make_user("rosa@example.org", first_name="Rosa", last_name="Renew")
    membership = make_membership(user.contact, plan, status, paid_days=paid_days, auto_renew=False)
    if status == "grace":
        membership.grace_until = membership.paid_through + timedelta(days=30)
    db.session.commit()
    return user, membership.id


def _renew(client, user, sandbox):  # type: ignore[no-untyped-def]
    sign_in(client, user)
    page = client.get("/account").get_data(as_text=True)
    assert "Renew now (£36.00)" in page
    response = client.post("/account/renew/pay", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 303
    session_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    sandbox.pay(session_id)
    return session_id


def test_fixed_term_member_renews_and_the_period_follows_on_once(client, plan, stripe_sandbox):
    user, membership_id = _fixed_term_member(plan)
    before = db.session.get(Membership, membership_id).paid_through
    session_id = _renew(client, user, stripe_sandbox)

    # The success page and the (duplicated) webhook both see the payment: it counts once.
    page = client.get(f"/join/success?session_id={session_id}").get_data(as_text=True)
    assert "renewed" in page.lower()
    assert all(r.status_code == 200 for r in deliver_webhooks(client, duplicate=True))
    db.session.expire_all()
    membership = db.session.get(Membership, membership_id)
    assert membership.status == "active"
    assert membership.paid_through == lifecycle.period_end(plan, before)
    assert db.session.scalar(select(func.count()).select_from(Payment).where(
        Payment.membership_id == membership_id, Payment.status == "paid")) == 1


def test_member_in_grace_renews_and_is_active_again(client, plan, stripe_sandbox):
    user, membership_id = _fixed_term_member(plan, status="grace", paid_days=-5)
    _renew(client, user, stripe_sandbox)
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    db.session.expire_all()
    membership = db.session.get(Membership, membership_id)
    assert membership.status == "active" and membership.grace_until is None
    # Grace had passed the old end: the new year starts today.
    assert membership.paid_through > utcnow() + timedelta(days=360)


def test_auto_renewing_member_is_not_offered_renew_now(client, active_member):
    sign_in(client, active_member)
    assert "Renew now" not in client.get("/account").get_data(as_text=True)
    response = client.post("/account/renew/pay", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0
