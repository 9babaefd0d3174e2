"""Bacs Direct Debit in Checkout: set up now, collected days later, in any event order."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.billing.models import Payment
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.stripe_fixtures import deliver_webhooks


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def count(model, *where) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def all_ok(responses) -> None:  # type: ignore[no-untyped-def]
    assert responses and all(r.status_code == 200 for r in responses), [
        (r.status_code, r.get_json()) for r in responses
    ]


def fresh(membership_id: int) -> Membership:
    db.session.expire_all()
    return db.session.get(Membership, membership_id)


def join_by_direct_debit(client, plans, sandbox, **changes):  # type: ignore[no-untyped-def]
    response = client.post("/join", data=form(plans, **changes))
    assert response.status_code == 303, response.get_data(as_text=True)
    membership = db.session.scalar(select(Membership).order_by(Membership.id.desc()))
    session_id = membership.stripe_checkout_session_id
    assert sandbox.object(session_id)["payment_method_types"] == ["card", "bacs_debit"]
    sandbox.pay_by_direct_debit(session_id)
    return membership.id, session_id


def emails(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def test_checkout_offers_direct_debit_beside_cards_and_the_sandbox_page_has_the_button(
    client, plans, stripe_sandbox
):
    client.post("/join", data=form(plans))
    membership = db.session.scalar(select(Membership))
    session = stripe_sandbox.object(membership.stripe_checkout_session_id)
    assert session["payment_method_types"] == ["card", "bacs_debit"]


def test_direct_debit_join_is_being_set_up_then_active_when_collected(client, plans, stripe_sandbox):
    membership_id, session_id = join_by_direct_debit(client, plans, stripe_sandbox, donation="10")
    all_ok(deliver_webhooks(client, duplicate=True))
    membership = fresh(membership_id)
    assert membership.status == "direct_debit_pending"
    assert not lifecycle.has_access(membership.contact_id)  # no members' news until the money arrives
    assert count(Payment) == 0
    page = client.get(f"/join/success?session_id={session_id}").get_data(as_text=True)
    assert "your Direct Debit is being set up" in page

    stripe_sandbox.settle_direct_debit(session_id)
    all_ok(deliver_webhooks(client, duplicate=True, shuffle=4))
    membership = fresh(membership_id)
    assert membership.status == "active" and membership.paid_through is not None
    amounts = sorted((p.kind, p.amount) for p in db.session.scalars(select(Payment)))
    assert amounts == [("donation", 1000), ("membership", 3600)]
    history = [e.to_status for e in lifecycle.status_explanation(membership)]
    assert history == ["pending", "direct_debit_pending", "active"]


@pytest.mark.parametrize("seed", [1, 2, 3, "reversed"])
def test_direct_debit_events_in_any_order_and_twice_make_one_member_and_no_double_payment(
    client, plans, stripe_sandbox, seed
):
    membership_id, session_id = join_by_direct_debit(client, plans, stripe_sandbox, donation="5")
    stripe_sandbox.settle_direct_debit(session_id)
    events = stripe_sandbox.take_events()
    if seed == "reversed":
        events.reverse()
        all_ok(deliver_webhooks(client, events, duplicate=True))
    else:
        all_ok(deliver_webhooks(client, events, duplicate=True, shuffle=seed))
    assert fresh(membership_id).status == "active"
    assert count(Membership) == 1 and count(Payment) == 2
    assert len(emails("receipt")) == 1


@pytest.mark.parametrize("seed", [None, 1, "reversed"])
def test_a_failed_first_collection_ends_in_one_clear_email_and_no_membership(
    client, plans, stripe_sandbox, seed
):
    membership_id, session_id = join_by_direct_debit(client, plans, stripe_sandbox)
    stripe_sandbox.settle_direct_debit(session_id, succeed=False)
    events = stripe_sandbox.take_events()
    if seed == "reversed":
        events.reverse()
    all_ok(deliver_webhooks(client, events, duplicate=True, shuffle=seed if isinstance(seed, int) else False))
    membership = fresh(membership_id)
    assert membership.status == "expired"
    assert not lifecycle.has_access(membership.contact_id)
    assert count(Payment, Payment.status == "paid") == 0
    failed = emails("direct_debit_failed")
    assert len(failed) == 1 and "Direct Debit did not go through" in failed[0].subject
    assert emails("receipt") == []


def test_a_supporter_whose_direct_debit_is_being_set_up_cannot_join_twice(client, plans, stripe_sandbox):
    join_by_direct_debit(client, plans, stripe_sandbox)
    all_ok(deliver_webhooks(client))
    page = client.post("/join", data=form(plans)).get_data(as_text=True)
    assert "You are already a member" in page
    assert count(Membership) == 1


def test_renewal_by_direct_debit_follows_the_card_rules(client, plans, stripe_sandbox):
    membership_id, session_id = join_by_direct_debit(client, plans, stripe_sandbox)
    stripe_sandbox.settle_direct_debit(session_id)
    all_ok(deliver_webhooks(client))
    first_end = fresh(membership_id).paid_through
    sub_id = fresh(membership_id).stripe_subscription_id
    stripe_sandbox.fail_renewal(sub_id)
    all_ok(deliver_webhooks(client))
    assert fresh(membership_id).status == "grace"
    stripe_sandbox.renew(sub_id)
    all_ok(deliver_webhooks(client))
    membership = fresh(membership_id)
    assert membership.status == "active" and membership.current_period_start == first_end


def test_staff_and_member_see_direct_debit_being_set_up_in_plain_words(client, plans, stripe_sandbox):
    from tests.fixtures import make_user, sign_in_as

    membership_id, _ = join_by_direct_debit(client, plans, stripe_sandbox)
    all_ok(deliver_webhooks(client))
    contact_id = fresh(membership_id).contact_id
    sign_in_as(client, make_user("admin@example.org", "admin"))
    page = client.get(f"/staff/members/{contact_id}").get_data(as_text=True)
    assert "Direct Debit being set up" in page
