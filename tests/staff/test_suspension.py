"""Suspending a membership from the member page: the rows, one audit row, and the member's access."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.memberships.models import Membership, MembershipEvent
from tests.fixtures import make_user
from tests.members_area.factories import forget_loaded_user, make_post, sign_in
from tests.staff.conftest import make_membership

SECRET = "The briefing for members only"


def audit_rows() -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action != "member.view").order_by(AuditEvent.id)
        )
    )


def post(client, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    forget_loaded_user()  # two clients share the test's app context
    return client.post(path, data=data)


def read(client, path: str) -> str:  # type: ignore[no-untyped-def]
    forget_loaded_user()
    return client.get(path).get_data(as_text=True)


@pytest.fixture
def member_with_access(app, plan):  # type: ignore[no-untyped-def]
    user = make_user("reader@example.org", "member", first_name="Rita", last_name="Reader")
    membership = make_membership(user.contact, plan, "active", paid_days=100)
    db.session.commit()
    return user, membership


def test_suspend_ends_members_access_and_unsuspend_gives_it_back(app, staff_client, member_with_access):  # type: ignore[no-untyped-def]
    user, membership = member_with_access
    news = make_post("Members briefing", visibility="members", body=SECRET)
    db.session.commit()
    reader = sign_in(app.test_client(), user)
    assert SECRET in read(reader, f"/news/{news.slug}")

    response = post(
        staff_client, f"/staff/members/{user.contact_id}/suspend", {"suspend-reason": "abusive calls"}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "suspended"
    event = db.session.scalars(
        select(MembershipEvent).where(MembershipEvent.membership_id == membership.id)
    ).all()[-1]
    assert (event.from_status, event.to_status, event.reason) == ("active", "suspended", "abusive calls")
    [row] = audit_rows()
    assert row.action == "member.suspend" and row.detail == "abusive calls"
    assert (row.before["status"], row.after["status"]) == ("active", "suspended")
    assert row.actor_label == "staff@example.org"
    assert SECRET not in read(reader, f"/news/{news.slug}")
    page = read(staff_client, f"/staff/members/{user.contact_id}")
    assert "Lift suspension" in page and "Suspend membership" not in page

    response = post(staff_client, f"/staff/members/{user.contact_id}/unsuspend", {"unsuspend-reason": ""})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "active"
    rows = audit_rows()
    assert [r.action for r in rows] == ["member.suspend", "member.unsuspend"]
    assert (rows[1].before["status"], rows[1].after["status"]) == ("suspended", "active")
    assert SECRET in read(reader, f"/news/{news.slug}")


def test_suspend_needs_a_reason_and_a_current_membership(staff_client, member_with_access, app):  # type: ignore[no-untyped-def]
    user, membership = member_with_access
    no_reason = post(staff_client, f"/staff/members/{user.contact_id}/suspend", {"suspend-reason": "  "})
    assert no_reason.status_code == 422 and "Give the reason for the suspension." in no_reason.get_data(
        as_text=True
    )
    not_suspended = post(staff_client, f"/staff/members/{user.contact_id}/unsuspend", {})
    assert not_suspended.status_code == 409 and "not suspended" in not_suspended.get_data(as_text=True)
    membership.status = "lapsed"
    db.session.commit()
    lapsed = post(staff_client, f"/staff/members/{user.contact_id}/suspend", {"suspend-reason": "late"})
    assert lapsed.status_code == 409 and "no current membership" in lapsed.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "lapsed"
    assert audit_rows() == []


def test_editors_cannot_suspend(editor_client, member_with_access):  # type: ignore[no-untyped-def]
    user, membership = member_with_access
    assert (
        post(editor_client, f"/staff/members/{user.contact_id}/suspend", {"suspend-reason": "x"}).status_code
        == 403
    )
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "active"
