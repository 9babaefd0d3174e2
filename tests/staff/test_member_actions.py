"""The actions on a member's page: their effect on the rows and on the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.accounts.models import User
from crm.audit.models import AuditEvent
from crm.billing.models import Payment
from crm.contacts.models import Consent, Contact, GiftAidDeclaration, Note
from crm.core.types import utcnow
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import make_contact, make_user
from tests.staff.conftest import declare_gift_aid, make_membership, make_payment, make_plan


def rows(model) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model))


def audited(action: str) -> AuditEvent | None:
    return db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
    )


@pytest.fixture
def supporter(app):  # type: ignore[no-untyped-def]
    contact = make_contact("supporter@example.org", first_name="Sue", last_name="Porter")
    db.session.commit()
    return contact


def offline(**overrides: str) -> dict[str, str]:
    data = {
        "offline-plan": "",
        "offline-amount": "36.00",
        "offline-method": "cheque",
        "offline-paid_on": utcnow().date().isoformat(),
        "offline-reference": "CHQ 000123",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"offline-amount": ""}, "Enter the amount received."),
        ({"offline-amount": "0"}, "The amount must be more than £0."),
        ({"offline-amount": "-5"}, "Enter an amount in pounds"),
        ({"offline-amount": "abc"}, "Enter an amount in pounds"),
        ({"offline-method": ""}, "Choose how they paid."),
        ({"offline-method": "card"}, "Not a valid choice"),
        ({"offline-paid_on": ""}, "Enter the date the payment was received."),
        ({"offline-paid_on": "2099-01-01"}, "The date cannot be in the future."),
        ({"offline-plan": "99999"}, "Not a valid choice"),
    ],
)
def test_offline_payment_with_bad_input_records_nothing(staff_client, supporter, plan, bad, message):  # type: ignore[no-untyped-def]
    data = offline(**{"offline-plan": str(plan.id)})
    data.update(bad)
    response = staff_client.post(f"/staff/members/{supporter.id}/offline-payment", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert rows(Payment) == 0 and rows(Membership) == 0


def test_offline_payment_starts_a_membership_and_is_audited(staff_client, supporter, plan):  # type: ignore[no-untyped-def]
    response = staff_client.post(
        f"/staff/members/{supporter.id}/offline-payment", data=offline(**{"offline-plan": str(plan.id)})
    )
    assert response.status_code == 302
    payment = db.session.scalar(select(Payment))
    assert (payment.amount, payment.method, payment.reference, payment.status) == (
        3600,
        "cheque",
        "CHQ 000123",
        "paid",
    )
    membership = db.session.scalar(select(Membership))
    assert membership.status == "active" and membership.paid_through > utcnow() + timedelta(days=360)
    event = audited("member.offline_payment")
    assert event.before == {"membership": None} and event.after["membership"]["status"] == "active"


def test_offline_payment_extends_a_current_membership(staff_client, supporter, plan):  # type: ignore[no-untyped-def]
    membership = make_membership(supporter, plan, "active", paid_days=10)
    db.session.commit()
    before = membership.paid_through
    staff_client.post(
        f"/staff/members/{supporter.id}/offline-payment",
        data=offline(**{"offline-plan": str(plan.id), "offline-method": "bank_transfer"}),
    )
    db.session.expire_all()
    assert rows(Membership) == 1
    assert db.session.get(Membership, membership.id).paid_through >= before + timedelta(days=364)


def test_complimentary_membership(staff_client, supporter, plan):  # type: ignore[no-untyped-def]
    until = (utcnow() + timedelta(days=90)).date().isoformat()
    response = staff_client.post(
        f"/staff/members/{supporter.id}/complimentary", data={"comp-plan": str(plan.id), "comp-until": until}
    )
    assert response.status_code == 302
    membership = db.session.scalar(select(Membership))
    assert membership.complimentary and membership.status == "active"
    assert audited("member.complimentary").after["complimentary"] is True
    # A second one is refused: they are already a member.
    again = staff_client.post(
        f"/staff/members/{supporter.id}/complimentary", data={"comp-plan": str(plan.id)}
    )
    assert again.status_code == 409 and "already a member" in again.get_data(as_text=True)
    assert rows(Membership) == 1


def test_change_plan_and_extend(staff_client, supporter, plan):  # type: ignore[no-untyped-def]
    other = make_plan("concession-yearly", 1200)
    membership = make_membership(supporter, plan, "grace", paid_days=-3)
    db.session.commit()
    assert (
        staff_client.post(
            f"/staff/members/{supporter.id}/plan", data={"change-plan": str(other.id)}
        ).status_code
        == 302
    )
    event = audited("member.change_plan")
    assert (event.before["plan_id"], event.after["plan_id"]) == (plan.id, other.id)
    until = (utcnow() + timedelta(days=60)).date()
    assert (
        staff_client.post(
            f"/staff/members/{supporter.id}/extend", data={"extend-until": until.isoformat()}
        ).status_code
        == 302
    )
    db.session.expire_all()
    membership = db.session.get(Membership, membership.id)
    assert membership.paid_through.date() == until and membership.status == "active"
    assert audited("member.extend").before["status"] == "grace"
    past = staff_client.post(f"/staff/members/{supporter.id}/extend", data={"extend-until": "2001-01-01"})
    assert past.status_code == 422


def test_cancel_at_period_end_then_now(staff_client, supporter, plan):  # type: ignore[no-untyped-def]
    membership = make_membership(supporter, plan, "active", auto_renew=True)
    db.session.commit()
    assert (
        staff_client.post(
            f"/staff/members/{supporter.id}/cancel", data={"cancel-when": "period_end"}
        ).status_code
        == 302
    )
    db.session.expire_all()
    membership = db.session.get(Membership, membership.id)
    assert membership.status == "active" and not membership.auto_renew
    assert audited("member.cancel_at_period_end")
    assert (
        staff_client.post(
            f"/staff/members/{supporter.id}/cancel",
            data={"cancel-when": "now", "cancel-reason": "asked by phone"},
        ).status_code
        == 302
    )
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "cancelled"
    assert audited("member.cancel_now").detail == "asked by phone"
    again = staff_client.post(f"/staff/members/{supporter.id}/cancel", data={"cancel-when": "now"})
    assert again.status_code == 409 and "no current membership" in again.get_data(as_text=True)


def test_merge_moves_everything_and_removes_the_duplicate(staff_client, plan, app):  # type: ignore[no-untyped-def]
    kept = make_contact("kept@example.org", first_name="Kim", last_name="Kept", phone="")
    dup = make_contact(
        "dup@example.org",
        first_name="Kim",
        last_name="Kept",
        phone="0207 000 0000",
        stripe_customer_id="cus_dup",
    )
    membership = make_membership(dup, plan, "active")
    make_payment(dup, membership)
    db.session.add_all(
        [
            Note(contact_id=dup.id, body="duplicate's note"),
            Consent(contact_id=dup.id, kind="email_updates", granted=True, source="join"),
            OutboxMessage(
                to_email=dup.email, contact_id=dup.id, kind="receipt", subject="Receipt", body_text="x"
            ),
            AuditEvent(action="member.view", contact_id=dup.id),
        ]
    )
    declare_gift_aid(dup)
    user = make_user("dup-login@example.org", "member")
    user_contact = user.contact
    db.session.commit()
    dup_id, dup_number = dup.id, dup.member_number

    response = staff_client.post(
        f"/staff/members/{kept.id}/merge", data={"merge-other": dup_number, "merge-confirm": "y"}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, dup_id) is None
    for model in (Membership, Payment, Note, Consent, OutboxMessage, GiftAidDeclaration):
        assert (
            db.session.scalar(select(func.count()).select_from(model).where(model.contact_id == dup_id)) == 0
        )
        assert (
            db.session.scalar(select(func.count()).select_from(model).where(model.contact_id == kept.id)) >= 1
        )
    kept = db.session.get(Contact, kept.id)
    assert kept.member_number == dup_number and kept.stripe_customer_id == "cus_dup"
    assert kept.phone == "0207 000 0000" and kept.email == "kept@example.org"
    event = audited("member.merge")
    assert event.contact_id == kept.id and event.after["moved"]["payment"] == 1
    assert f"merged contact {dup_id}" in event.detail
    # A contact with a login merges in too (by id), and its account moves with it.
    staff_client.post(
        f"/staff/members/{kept.id}/merge", data={"merge-other": str(user_contact.id), "merge-confirm": "y"}
    )
    db.session.expire_all()
    assert db.session.get(User, user.id).contact_id == kept.id


def test_merge_refuses_itself_unknown_and_unconfirmed(staff_client, supporter):  # type: ignore[no-untyped-def]
    before = rows(Contact)
    for data, message in (
        ({"merge-other": str(supporter.id), "merge-confirm": "y"}, "cannot be merged into itself"),
        ({"merge-other": "M999999", "merge-confirm": "y"}, "No contact has that id"),
        ({"merge-other": str(supporter.id)}, "Tick the box to confirm the merge."),
    ):
        response = staff_client.post(f"/staff/members/{supporter.id}/merge", data=data)
        assert response.status_code in (409, 422)
        assert message in response.get_data(as_text=True)
    assert rows(Contact) == before
    assert audited("member.merge") is None


def test_merge_refuses_two_current_memberships(staff_client, plan):  # type: ignore[no-untyped-def]
    a = make_contact("a@example.org")
    b = make_contact("b@example.org")
    make_membership(a, plan)
    make_membership(b, plan)
    db.session.commit()
    response = staff_client.post(
        f"/staff/members/{a.id}/merge", data={"merge-other": str(b.id), "merge-confirm": "y"}
    )
    assert response.status_code == 409 and "Both contacts have a current membership" in response.get_data(
        as_text=True
    )
    assert db.session.get(Contact, b.id) is not None


def test_resend_welcome_email(staff_client, app):  # type: ignore[no-untyped-def]
    user = make_user("welcome@example.org", "member")
    response = staff_client.post(f"/staff/members/{user.contact_id}/welcome")
    assert response.status_code == 302
    assert (
        db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "welcome")
        )
        == 1
    )
    assert audited("member.welcome_resent")
    nobody = make_contact("nologin@example.org")
    db.session.commit()
    refused = staff_client.post(f"/staff/members/{nobody.id}/welcome")
    assert refused.status_code == 409 and "no sign-in account" in refused.get_data(as_text=True)


def test_erasure_is_confirmed_only_when_requested(staff_client, app):  # type: ignore[no-untyped-def]
    contact = make_contact("forget.me@example.org", first_name="Forget", last_name="Me")
    db.session.commit()
    refused = staff_client.post(f"/staff/members/{contact.id}/erase", data={"erase-confirm": "y"})
    assert refused.status_code == 409 and "has not asked to be erased" in refused.get_data(as_text=True)
    contact.erasure_requested_at = utcnow()
    db.session.commit()
    assert "Could declare" in staff_client.get("/staff").get_data(as_text=True)
    response = staff_client.post(f"/staff/members/{contact.id}/erase", data={"erase-confirm": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    erased = db.session.get(Contact, contact.id)
    assert erased.erased_at is not None and "forget.me" not in erased.email
    assert audited("member.erasure_confirmed")


def test_each_membership_action_leaves_one_audit_row_with_before_and_after(staff_client, supporter, plan):  # type: ignore[no-untyped-def]
    """The lifecycle keeps its own MembershipEvent history; the audit trail gets one row per action."""
    other = make_plan("concession-yearly", 1200)
    db.session.commit()
    later = (utcnow() + timedelta(days=800)).date().isoformat()
    steps = [
        ("offline-payment", offline(**{"offline-plan": str(plan.id)}), "member.offline_payment"),
        ("plan", {"change-plan": str(other.id)}, "member.change_plan"),
        ("extend", {"extend-until": later}, "member.extend"),
        (
            "offline-payment",
            offline(**{"offline-plan": str(plan.id)}),
            "member.offline_payment",
        ),  # changes plan too
        ("suspend", {"suspend-reason": "checking a complaint"}, "member.suspend"),
        ("unsuspend", {}, "member.unsuspend"),
        ("cancel", {"cancel-when": "now"}, "member.cancel_now"),
        ("complimentary", {"comp-plan": str(plan.id)}, "member.complimentary"),
    ]
    for path, data, action in steps:
        before = rows(AuditEvent)
        response = staff_client.post(f"/staff/members/{supporter.id}/{path}", data=data)
        assert response.status_code == 302, (path, response.get_data(as_text=True)[:500])
        new = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id).offset(before)).all()
        assert [event.action for event in new] == [action]
        assert (
            new[0].after and new[0].actor_label == "staff@example.org" and new[0].contact_id == supporter.id
        )
        assert new[0].before is not None or action == "member.complimentary"  # there was no membership
    history = db.session.scalars(select(Membership).order_by(Membership.id)).all()
    assert [m.status for m in history] == ["cancelled", "active"]
    assert len(history[0].events) >= 6  # the lifecycle's own history is kept in full


def test_the_suppression_list_takes_addresses_by_the_apps_one_email_check(staff_client):  # type: ignore[no-untyped-def]
    from crm.contacts.models import Suppression

    refused = staff_client.post("/staff/suppressions", data={"email": "a..b@example.org"})
    assert refused.status_code == 400 and "like name@example.org" in refused.get_data(as_text=True)
    added = staff_client.post("/staff/suppressions", data={"email": "José@Example.org"})
    assert added.status_code == 302
    assert list(db.session.scalars(select(Suppression.email))) == ["josé@example.org"]
