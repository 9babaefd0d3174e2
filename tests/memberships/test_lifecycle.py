"""Every membership transition, with frozen time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from crm.billing import offline
from crm.billing.models import Payment
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, MembershipEvent
from tests.fixtures import make_contact, make_user
from tests.memberships.factories import make_membership, make_plan

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def plan(app):  # type: ignore[no-untyped-def]
    return make_plan("standard-yearly")


@pytest.fixture
def contact(app):  # type: ignore[no-untyped-def]
    return make_contact("supporter@example.org")


def events(membership: Membership) -> list[tuple[str | None, str]]:
    return [(e.from_status, e.to_status) for e in lifecycle.status_explanation(membership)]


def test_start_pending_creates_one_pending_membership_that_expires_in_24_hours(clock, contact, plan):
    membership = lifecycle.start_pending(contact, plan, auto_renew=True)
    assert membership.status == "pending"
    assert membership.pending_expires_at == T0 + timedelta(hours=24)
    assert events(membership) == [(None, "pending")]
    assert not lifecycle.has_access(contact.id)


def test_pressing_join_twice_reuses_the_pending_membership(clock, contact, plan):
    first = lifecycle.start_pending(contact, plan, auto_renew=True)
    first.stripe_checkout_session_id = "cs_1"
    second = lifecycle.start_pending(contact, plan, auto_renew=True)
    assert second.id == first.id
    assert second.stripe_checkout_session_id == "cs_1"
    assert db.session.scalar(select(func.count(Membership.id))) == 1


def test_choosing_another_plan_reuses_the_pending_row_and_drops_the_old_checkout(clock, contact, plan):
    first = lifecycle.start_pending(contact, plan, auto_renew=True)
    first.stripe_checkout_session_id = "cs_1"
    monthly = make_plan("monthly")
    second = lifecycle.start_pending(contact, monthly, auto_renew=True)
    assert second.id == first.id and second.plan_id == monthly.id
    assert second.stripe_checkout_session_id is None


@pytest.mark.parametrize("status", ["active", "grace", "suspended"])
def test_start_pending_refuses_someone_who_is_already_a_member(clock, contact, plan, status):
    make_membership(contact, plan, status, paid_through=T0 + timedelta(days=10))
    with pytest.raises(lifecycle.AlreadyMember):
        lifecycle.start_pending(contact, plan, auto_renew=True)


def test_payment_activates_pending_membership_with_join_date_and_number(clock, contact, plan):
    membership = lifecycle.start_pending(contact, plan, auto_renew=True)
    end = T0 + timedelta(days=365)
    lifecycle.activate_from_payment(
        membership, period_start=T0, paid_through=end, amount=3600, reason="paid", stripe_event_id="evt_1"
    )
    assert membership.status == "active"
    assert membership.joined_at == T0
    assert membership.current_period_start == T0
    assert membership.paid_through == end
    assert membership.pending_expires_at is None
    assert contact.member_number == f"M{contact.id:06d}"
    last = lifecycle.status_explanation(membership)[-1]
    assert (last.from_status, last.to_status, last.amount, last.stripe_event_id) == (
        "pending",
        "active",
        3600,
        "evt_1",
    )
    assert lifecycle.has_access(contact.id)


def test_renewal_extends_paid_through_with_no_gap(clock, contact, plan):
    end = T0 + timedelta(days=20)
    membership = make_membership(contact, plan, paid_through=end, joined_at=T0 - timedelta(days=345))
    new_end = lifecycle.add_months(end, 12)
    lifecycle.activate_from_payment(
        membership, period_start=end, paid_through=new_end, amount=3600, reason="renewed"
    )
    assert membership.paid_through == new_end
    assert membership.current_period_start == end
    assert membership.joined_at == T0 - timedelta(days=345)


def test_replayed_or_older_payment_never_moves_paid_through_backwards(clock, contact, plan):
    end = T0 + timedelta(days=200)
    membership = make_membership(contact, plan, paid_through=end)
    for older in (end, end - timedelta(days=30)):
        lifecycle.activate_from_payment(
            membership, period_start=T0, paid_through=older, amount=3600, reason="old"
        )
    assert membership.paid_through == end
    assert events(membership) == []


def test_payment_in_grace_returns_the_member_to_active(clock, contact, plan):
    membership = make_membership(contact, plan, "grace", paid_through=T0 - timedelta(days=2), grace_until=T0)
    lifecycle.activate_from_payment(
        membership,
        period_start=T0 - timedelta(days=2),
        paid_through=T0 + timedelta(days=363),
        amount=3600,
        reason="renewed",
    )
    assert membership.status == "active" and membership.grace_until is None
    assert events(membership) == [("grace", "active")]


def test_paying_does_not_lift_a_suspension(clock, contact, plan):
    membership = make_membership(contact, plan, "suspended", paid_through=T0 + timedelta(days=5))
    lifecycle.activate_from_payment(
        membership, period_start=T0, paid_through=T0 + timedelta(days=370), amount=3600, reason="renewed"
    )
    assert membership.status == "suspended"
    assert not lifecycle.has_access(contact.id)


def test_rejoining_after_a_lapse_keeps_the_join_date_and_history(clock, contact, plan):
    joined = T0 - timedelta(days=800)
    old = make_membership(contact, plan, "lapsed", paid_through=T0 - timedelta(days=60), joined_at=joined)
    fresh = lifecycle.start_pending(contact, plan, auto_renew=True)
    assert fresh.id != old.id
    lifecycle.activate_from_payment(
        fresh, period_start=T0, paid_through=T0 + timedelta(days=365), amount=3600, reason="rejoined"
    )
    assert fresh.joined_at == joined
    assert fresh.current_period_start == T0
    assert old.status == "lapsed"


def test_a_late_payment_for_an_expired_checkout_wins_over_a_newer_pending_one(clock, contact, plan):
    stale = make_membership(contact, plan, "expired")
    newer = lifecycle.start_pending(contact, plan, auto_renew=True)
    lifecycle.activate_from_payment(
        stale, period_start=T0, paid_through=T0 + timedelta(days=365), amount=3600, reason="paid late"
    )
    assert stale.status == "active"
    assert newer.status == "expired"
    assert lifecycle.current_membership(contact.id).id == stale.id


def test_a_payment_for_an_old_row_does_not_create_a_second_member(clock, contact, plan):
    stale = make_membership(contact, plan, "expired")
    make_membership(contact, plan, "active", paid_through=T0 + timedelta(days=30))
    with pytest.raises(lifecycle.AlreadyMember):
        lifecycle.activate_from_payment(
            stale, period_start=T0, paid_through=T0 + timedelta(days=365), amount=3600, reason="paid late"
        )


def test_offline_payment_starts_a_membership_and_queues_a_receipt(clock, contact, plan, staff_user):
    payment = offline.record_offline_payment(
        contact, plan, amount=3600, method="cheque", paid_at=T0, reference="CHQ 0042", actor=staff_user
    )
    membership = lifecycle.current_membership(contact.id)
    assert membership.status == "active"
    assert membership.paid_through == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert (payment.amount, payment.method, payment.reference, payment.membership_id) == (
        3600,
        "cheque",
        "CHQ 0042",
        membership.id,
    )
    assert events(membership)[-1] == ("pending", "active")
    assert lifecycle.status_explanation(membership)[-1].actor_user_id == staff_user.id
    receipt = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert receipt.dedupe_key == f"receipt:{payment.id}" and "£36.00" in receipt.body_text


def test_offline_payment_extends_an_active_membership_by_one_period(clock, contact, plan, staff_user):
    end = datetime(2026, 5, 1, tzinfo=UTC)
    membership = make_membership(contact, plan, paid_through=end)
    offline.record_offline_payment(
        contact, plan, amount=3600, method="bank_transfer", paid_at=T0, reference="", actor=staff_user
    )
    assert membership.paid_through == datetime(2027, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "method", "paid_at", "reference", "message"),
    [
        (0, "cash", T0, "", "greater than zero"),
        (-100, "cash", T0, "", "greater than zero"),
        (10**9, "cash", T0, "", "too large"),
        (3600, "card", T0, "", "how the payment was made"),
        (3600, "cash", T0 + timedelta(days=5), "", "future"),
        (3600, "cash", T0, "x" * 101, "100 characters"),
    ],
)
def test_offline_payment_validation_changes_nothing(
    clock, contact, plan, staff_user, amount, method, paid_at, reference, message
):
    with pytest.raises(ValueError, match=message):
        offline.record_offline_payment(
            contact,
            plan,
            amount=amount,
            method=method,
            paid_at=paid_at,
            reference=reference,
            actor=staff_user,
        )
    assert db.session.scalar(select(func.count(Payment.id))) == 0
    assert db.session.scalar(select(func.count(Membership.id))) == 0


def test_complimentary_membership_has_no_paid_through(clock, contact, plan, staff_user):
    membership = lifecycle.grant_complimentary(contact, plan, actor=staff_user)
    assert membership.status == "active" and membership.complimentary and membership.paid_through is None
    with pytest.raises(lifecycle.AlreadyMember):
        lifecycle.grant_complimentary(contact, plan, actor=staff_user)


def test_change_plan_and_extend_are_recorded(clock, contact, plan, staff_user):
    membership = make_membership(contact, plan, "grace", paid_through=T0 - timedelta(days=1))
    monthly = make_plan("monthly")
    lifecycle.change_plan(membership, monthly, actor=staff_user)
    with pytest.raises(ValueError):
        lifecycle.extend(membership, until=T0 - timedelta(days=5), actor=staff_user)
    lifecycle.extend(membership, until=T0 + timedelta(days=30), actor=staff_user)
    assert membership.plan_id == monthly.id
    assert membership.status == "active" and membership.paid_through == T0 + timedelta(days=30)
    reasons = [e.reason for e in lifecycle.status_explanation(membership)]
    assert reasons == ["plan changed from Standard (yearly) to Monthly", "extended by staff"]


def test_cancel_now_ends_access_at_once(clock, contact, plan, staff_user):
    membership = make_membership(contact, plan, paid_through=T0 + timedelta(days=100))
    lifecycle.cancel_now(membership, actor=staff_user, reason="requested by member")
    assert membership.status == "cancelled" and membership.ended_at == T0
    assert not lifecycle.has_access(contact.id)
    assert lifecycle.current_membership(contact.id) is None


def test_cancel_auto_renew_keeps_access_until_paid_through_then_lapses(clock, contact, plan):
    end = T0 + timedelta(days=10)
    membership = make_membership(contact, plan, paid_through=end, auto_renew=True)
    lifecycle.set_auto_renew(membership, False, reason="member turned auto-renew off")
    assert membership.status == "active" and lifecycle.ends_at_period_end(membership)
    assert lifecycle.run_daily(end - timedelta(seconds=1))["lapsed_at_period_end"] == 0
    assert lifecycle.run_daily(end + timedelta(seconds=1))["lapsed_at_period_end"] == 1
    db.session.refresh(membership)
    assert membership.status == "lapsed"
    assert events(membership)[-1] == ("active", "lapsed")


def test_turning_auto_renew_back_on_before_the_end_keeps_the_membership(clock, contact, plan):
    end = T0 + timedelta(days=10)
    membership = make_membership(contact, plan, paid_through=end, auto_renew=True)
    lifecycle.set_auto_renew(membership, False, reason="off")
    lifecycle.set_auto_renew(membership, True, reason="on again")
    assert membership.cancelled_at is None and not lifecycle.ends_at_period_end(membership)
    assert lifecycle.run_daily(end + timedelta(hours=1))["lapsed_at_period_end"] == 0


def test_failed_renewal_gives_grace_days_then_lapses(clock, contact):
    plan = make_plan("monthly", grace_days=7)
    membership = make_membership(
        contact, plan, paid_through=T0, auto_renew=True, stripe_subscription_id="sub_1"
    )
    lifecycle.enter_grace(membership, reason="renewal payment failed", stripe_event_id="evt_f")
    assert membership.status == "grace" and membership.grace_until == T0 + timedelta(days=7)
    assert lifecycle.has_access(contact.id)
    lifecycle.lapse(membership, reason="Stripe gave up", stripe_event_id="evt_d")
    assert membership.status == "lapsed" and not lifecycle.has_access(contact.id)
    assert events(membership) == [("active", "grace"), ("grace", "lapsed")]


def test_suspend_and_unsuspend(clock, contact, plan, staff_user):
    membership = make_membership(contact, plan, paid_through=T0 + timedelta(days=10))
    lifecycle.suspend(membership, actor=staff_user, reason="abuse")
    assert not lifecycle.has_access(contact.id)
    lifecycle.unsuspend(membership, actor=staff_user, reason="resolved")
    assert membership.status == "active"
    lifecycle.suspend(membership, actor=staff_user, reason="again")
    clock.move_to(T0 + timedelta(days=20))
    lifecycle.unsuspend(membership, actor=staff_user, reason="resolved after the end")
    assert membership.status == "grace"


def test_daily_job_moves_every_state_on_time(clock, contact, plan):
    pending = lifecycle.start_pending(contact, plan, auto_renew=True)
    other = make_contact("fixed@example.org")
    fixed = make_membership(other, plan, paid_through=T0 + timedelta(days=1))
    stripe_contact = make_contact("stripe@example.org")
    stripe_sub = make_membership(
        stripe_contact,
        plan,
        paid_through=T0 + timedelta(days=1),
        stripe_subscription_id="sub_x",
        auto_renew=True,
    )
    db.session.commit()

    assert lifecycle.run_daily(T0 + timedelta(hours=23)) == {
        "expired": 0,
        "lapsed_at_period_end": 0,
        "lapsed_after_grace": 0,
        "to_grace": 0,
    }
    counts = lifecycle.run_daily(T0 + timedelta(hours=25))
    assert counts["expired"] == 1 and counts["to_grace"] == 1
    db.session.commit()
    assert db.session.get(Membership, pending.id).status == "expired"
    assert db.session.get(Membership, fixed.id).status == "grace"
    # A Stripe subscription gets a few days for a late renewal webhook first.
    assert db.session.get(Membership, stripe_sub.id).status == "active"
    assert lifecycle.run_daily(T0 + timedelta(days=5))["to_grace"] == 1
    assert db.session.get(Membership, fixed.id).grace_until == T0 + timedelta(hours=25, days=30)

    assert lifecycle.run_daily(T0 + timedelta(days=32))["lapsed_after_grace"] == 1
    db.session.commit()
    assert db.session.get(Membership, fixed.id).status == "lapsed"
    assert events(db.session.get(Membership, fixed.id)) == [("active", "grace"), ("grace", "lapsed")]
    # The contact whose checkout expired can try again.
    assert lifecycle.start_pending(contact, plan, auto_renew=True).status == "pending"


def test_daily_job_is_set_based_and_fast_for_many_memberships(app, plan):
    from crm.contacts.models import Contact

    now = T0
    db.session.execute(
        Contact.__table__.insert(), [{"email": f"bulk{i}@example.org", "version": 1} for i in range(3000)]
    )
    ids = db.session.scalars(select(Contact.id)).all()
    db.session.execute(
        Membership.__table__.insert(),
        [
            {
                "contact_id": cid,
                "plan_id": plan.id,
                "status": "active",
                "paid_through": now - timedelta(days=1),
            }
            for cid in ids
        ],
    )
    from tests.staff.conftest import count_queries

    with count_queries() as statements:
        assert lifecycle.move_overdue_to_grace(now) == 3000
    # Set-based: a handful of statements for 3,000 memberships (was a wall-clock bound of 5 s).
    assert len(statements) <= 10, statements
    assert db.session.scalar(select(func.count(MembershipEvent.id))) == 3000


def test_member_number_is_assigned_once(app, contact):
    first = lifecycle.assign_member_number(contact)
    assert lifecycle.assign_member_number(contact) == first


def test_has_access_is_only_active_or_grace(app, plan):
    for status in ("pending", "active", "grace", "lapsed", "cancelled", "suspended", "expired"):
        contact = make_contact(f"{status}@example.org")
        make_membership(contact, plan, status)
        assert lifecycle.has_access(contact.id) is (status in ("active", "grace"))


def test_first_activation_gives_the_member_an_account_when_accounts_exist(clock, plan):
    user = make_user("hasaccount@example.org")
    membership = lifecycle.start_pending(user.contact, plan, auto_renew=False)
    lifecycle.activate_from_payment(
        membership, period_start=T0, paid_through=None, amount=50000, reason="life"
    )
    assert membership.status == "active" and user.contact.member_number
