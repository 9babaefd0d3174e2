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
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Payment)
            .where(Payment.membership_id == membership_id, Payment.status == "paid")
        )
        == 1
    )


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


def test_member_paid_up_for_months_with_auto_renew_off_is_not_offered_renew_now(client, plan, stripe_sandbox):
    user, _membership_id = _fixed_term_member(plan, paid_days=300)
    sign_in(client, user)
    assert "Renew now" not in client.get("/account").get_data(as_text=True)
    client.post("/account/renew/pay", data={"csrf_token": csrf_token(client, "/account")})
    assert stripe_sandbox.find("checkout.session") == []


def test_renewal_says_which_period_it_buys_and_leaving_it_says_not_charged(client, plan, stripe_sandbox):
    from crm.i18n.formatting import format_date

    user, membership_id = _fixed_term_member(plan)
    end = db.session.get(Membership, membership_id).paid_through
    period = f"{format_date(end)} to {format_date(lifecycle.period_end(plan, end))}"
    sign_in(client, user)
    assert f"Pays for {period}." in client.get("/account").get_data(as_text=True)
    client.post("/account/renew/pay", data={"csrf_token": csrf_token(client, "/account")})
    session = stripe_sandbox.find("checkout.session")[0]
    assert period in stripe_sandbox.session_line_items(session["id"])["data"][0]["description"]
    left = client.get(session["cancel_url"].replace("http://crm.test", "")).get_data(as_text=True)
    assert "you have not been charged" in left


def test_one_period_is_never_bought_twice(client, plan, stripe_sandbox):
    from crm.audit.models import AuditEvent

    user, membership_id = _fixed_term_member(plan)
    before = db.session.get(Membership, membership_id).paid_through
    sign_in(client, user)
    first = client.post("/account/renew/pay", data={"csrf_token": csrf_token(client, "/account")})
    plan.amount = 4000  # a price change between the two presses makes a second session
    db.session.commit()
    second = client.post("/account/renew/pay", data={"csrf_token": csrf_token(client, "/account")})
    ids = [r.headers["Location"].rstrip("/").rsplit("/", 1)[-1] for r in (first, second)]
    assert ids[0] != ids[1]
    for session_id in ids:
        stripe_sandbox.pay(session_id)
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    db.session.expire_all()
    membership = db.session.get(Membership, membership_id)
    assert membership.paid_through == lifecycle.period_end(plan, before)  # one period, not two
    flagged = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payment.second_renewal"))
    assert flagged is not None and "refund" in flagged.detail
