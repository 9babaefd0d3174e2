"""A joint membership's second adult has exactly the paying membership's access: renewal, grace,
lapse, cancellation and suspension all follow, whichever path (webhook, staff, daily run) moves it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm.extensions import db
from crm.members_area.services import erase_contact
from crm.memberships import lifecycle
from crm.memberships.models import Membership
from crm.staff import membership_changes
from crm.staff.services import StaffActionError
from tests.fixtures import sign_in_as
from tests.members_area.factories import make_post
from tests.memberships.joint import join_jointly, make_joint_plan
from tests.stripe_fixtures import deliver_webhooks

SECRET = "Only members read this briefing."


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


@pytest.fixture
def joint(client, stripe_sandbox):  # type: ignore[no-untyped-def]
    plan = make_joint_plan()
    db.session.commit()
    return join_jointly(client, stripe_sandbox, plan)


def _reload(*memberships: Membership) -> list[Membership]:
    db.session.expire_all()
    return [db.session.get(Membership, m.id) for m in memberships]


def _statuses(primary: Membership, follower: Membership) -> tuple[str, str]:
    primary, follower = _reload(primary, follower)
    return primary.status, follower.status


def test_a_stripe_renewal_carries_the_second_adult_on_with_no_gap(client, stripe_sandbox, joint):
    primary, follower = joint
    before = follower.paid_through
    stripe_sandbox.renew(primary.stripe_subscription_id)
    deliver_webhooks(client)
    primary, follower = _reload(primary, follower)
    assert primary.paid_through > before
    assert (follower.status, follower.paid_through) == ("active", primary.paid_through)


def test_a_failed_renewal_puts_both_in_grace_and_stripe_giving_up_lapses_both(client, stripe_sandbox, joint):
    primary, follower = joint
    post = make_post("Joint briefing", visibility="members", body=SECRET)
    db.session.commit()
    sign_in_as(client, follower.contact.user)
    assert SECRET in client.get(f"/news/{post.slug}").get_data(as_text=True)

    stripe_sandbox.fail_renewal(primary.stripe_subscription_id)
    deliver_webhooks(client)
    assert _statuses(primary, follower) == ("grace", "grace")
    assert SECRET in client.get(f"/news/{post.slug}").get_data(as_text=True)  # grace keeps access

    stripe_sandbox.give_up(primary.stripe_subscription_id)
    deliver_webhooks(client)
    assert _statuses(primary, follower) == ("lapsed", "lapsed")
    assert SECRET not in client.get(f"/news/{post.slug}").get_data(as_text=True)


def test_the_daily_run_moves_the_second_adult_only_with_the_paying_membership(joint):
    primary, follower = joint
    paid_through = primary.paid_through
    # The day after: Stripe may still be renewing the payer, so neither goes into grace (the
    # second adult has no subscription of their own, and must not be treated as unpaid).
    lifecycle.run_daily(paid_through + timedelta(days=1))
    db.session.commit()
    assert _statuses(primary, follower) == ("active", "active")

    lifecycle.run_daily(paid_through + lifecycle.STRIPE_RENEWAL_SLACK + timedelta(days=1))
    db.session.commit()
    primary, follower = _reload(primary, follower)
    assert (primary.status, follower.status) == ("grace", "grace")
    assert follower.grace_until == primary.grace_until

    lifecycle.run_daily(primary.grace_until + timedelta(days=1))
    db.session.commit()
    assert _statuses(primary, follower) == ("lapsed", "lapsed")
    reasons = [e.reason for e in db.session.get(Membership, follower.id).events]
    assert reasons[-1] == "joint membership: grace period ended without payment"


def test_staff_suspend_and_cancel_the_payer_and_the_second_adult_follows(staff_user, joint):
    primary, follower = joint
    payer, partner = primary.contact, follower.contact
    membership_changes.change_suspension(payer, suspended=True, reason="check", actor=staff_user)
    db.session.commit()
    assert _statuses(primary, follower) == ("suspended", "suspended")
    membership_changes.change_suspension(payer, suspended=False, reason="", actor=staff_user)
    db.session.commit()
    assert _statuses(primary, follower) == ("active", "active")

    with pytest.raises(StaffActionError, match="joint membership paid by Ana Torres"):
        membership_changes.cancel_membership(partner, at_period_end=False, reason="", actor=staff_user)
    db.session.rollback()
    assert _statuses(primary, follower) == ("active", "active")

    membership_changes.cancel_membership(payer, at_period_end=False, reason="asked", actor=staff_user)
    db.session.commit()
    assert _statuses(primary, follower) == ("cancelled", "cancelled")


def test_erasing_the_second_adult_leaves_the_payer_a_member_on_their_own(staff_user, joint):
    primary, follower = joint
    erase_contact(follower.contact, actor=staff_user)
    db.session.commit()
    primary, follower = _reload(primary, follower)
    assert primary.status == "active" and primary.partner_contact_id is None
    assert (follower.status, follower.joint_primary_id) == ("cancelled", None)
    # A later change of the payer's membership no longer reaches the erased contact's row.
    membership_changes.change_suspension(primary.contact, suspended=True, reason="", actor=staff_user)
    db.session.commit()
    assert _statuses(primary, follower) == ("suspended", "cancelled")


def test_erasing_the_payer_leaves_the_second_adult_what_was_paid_for(client, staff_user, joint):
    primary, follower = joint
    paid_through = follower.paid_through
    erase_contact(primary.contact, actor=staff_user)
    db.session.commit()
    primary, follower = _reload(primary, follower)
    assert primary.status == "cancelled"
    assert (follower.status, follower.paid_through, follower.joint_primary_id) == (
        "active",
        paid_through,
        None,
    )
    assert not follower.auto_renew
    assert follower.contact.user is not None and not follower.contact.user.disabled

    lifecycle.run_daily(paid_through + timedelta(days=1))  # then it runs out as a fixed-term one
    db.session.commit()
    assert _reload(follower)[0].status == "grace"


def test_moving_the_payer_to_a_plan_for_one_ends_the_second_adults_membership(staff_user, joint):
    from tests.memberships.factories import make_plan

    primary, follower = joint
    single = make_plan("monthly", stripe_price_id=None)
    db.session.commit()
    lifecycle.change_plan(primary, single, actor=staff_user)
    db.session.commit()
    primary, follower = _reload(primary, follower)
    assert (primary.status, primary.plan_id, primary.partner_contact_id) == ("active", single.id, None)
    assert (follower.status, follower.joint_primary_id) == ("cancelled", None)


def test_an_import_row_for_the_second_adult_leaves_their_joint_membership_to_the_payer(joint):
    from crm.staff import import_service

    primary, follower = joint
    text = "email,first name,last name,plan,status\nluis@example.org,Luis,Ramos,joint-yearly,lapsed\n"
    import_service.import_members(
        text, import_service.guess_mapping(import_service.read_headers(text)), actor_label="test"
    )
    db.session.commit()
    assert _statuses(primary, follower) == ("active", "active")


def test_the_second_adult_sees_no_gift_aid_link_since_gift_aid_is_on_the_payers_payments(client, joint):
    primary, follower = joint
    sign_in_as(client, follower.contact.user)
    page = client.get("/account").get_data(as_text=True)
    assert "who looks after the payments for your membership" in page
    assert 'href="/account/gift-aid"' not in page and "<dt>Gift Aid</dt>" not in page
    client.get("/logout")
    sign_in_as(client, primary.contact.user)
    payer = client.get("/account").get_data(as_text=True)
    assert 'href="/account/gift-aid"' in payer and "<dt>Gift Aid</dt>" in payer
