"""Each role against each staff page of the members, payments, dashboard and audit areas."""

from __future__ import annotations

import re

import pytest

from crm.extensions import db
from tests.fixtures import make_contact, make_user, sign_in_as

PAGES = [
    "/staff",
    "/staff/members",
    "/staff/members?q=ana",
    "/staff/members/{contact_id}",
    "/staff/members/{contact_id}/data.json",
    "/staff/members/{contact_id}/data.csv",
    "/staff/members/export.csv",
    "/staff/payments",
    "/staff/payments/export.csv",
    "/staff/audit",
]


@pytest.fixture
def contact_id(app) -> int:  # type: ignore[no-untyped-def]
    contact = make_contact("someone@example.org", first_name="Some", last_name="One")
    db.session.commit()
    return contact.id


def test_anonymous_visitor_is_sent_to_sign_in(client, contact_id):  # type: ignore[no-untyped-def]
    for path in PAGES:
        response = client.get(path.format(contact_id=contact_id))
        assert response.status_code == 302, path
        assert "/login" in response.headers["Location"], path


@pytest.mark.parametrize("role", ["member", "editor"])
def test_members_and_editors_are_refused(client, contact_id, role):  # type: ignore[no-untyped-def]
    sign_in_as(client, make_user(f"{role}-x@example.org", role))
    for path in PAGES:
        assert client.get(path.format(contact_id=contact_id)).status_code == 403, path


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admins_see_every_page(client, contact_id, role):  # type: ignore[no-untyped-def]
    sign_in_as(client, make_user(f"{role}-x@example.org", role))
    for path in PAGES:
        response = client.get(path.format(contact_id=contact_id))
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_staff_navigation_shows_only_what_the_role_may_use(client, contact_id):  # type: ignore[no-untyped-def]
    sign_in_as(client, make_user("staffer@example.org", "staff"))
    html = client.get("/staff").get_data(as_text=True)
    for label in ("Members", "Payments", "News", "Gift Aid", "Import", "Outbox", "Audit"):
        assert f">{label}</a>" in html
    assert ">Plans</a>" not in html


def test_admin_navigation_includes_plans(admin_client):  # type: ignore[no-untyped-def]
    assert ">Plans</a>" in admin_client.get("/staff").get_data(as_text=True)


def test_every_action_needs_a_permission_and_refuses_members(app, client, contact_id):  # type: ignore[no-untyped-def]
    sign_in_as(client, make_user("m2@example.org", "member"))
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("staff.member")]
    assert rules
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        assert getattr(view, "required_permission", None), rule.endpoint
        path = rule.rule.replace("<int:contact_id>", str(contact_id)).replace("<int:payment_id>", "1")
        path = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", path)  # data.<any(json, csv):extension> -> data.json
        method = "POST" if "POST" in rule.methods else "GET"
        assert client.open(path, method=method).status_code == 403, path


def test_refunds_are_for_admins_only(client, contact_id):  # type: ignore[no-untyped-def]
    sign_in_as(client, make_user("s3@example.org", "staff"))
    response = client.post(f"/staff/members/{contact_id}/payments/1/refund", data={})
    assert response.status_code == 403


def test_no_route_edits_or_deletes_the_audit_trail(app):  # type: ignore[no-untyped-def]
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule.rule
