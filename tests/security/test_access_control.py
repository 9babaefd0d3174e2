"""Controls 15-18: object-level access (IDOR -> 404), function-level access by role (a declared
matrix and a deny-by-default meta-test), role changes at once, mass assignment ignored."""

from __future__ import annotations

import random

import pytest

from crm.accounts.models import User
from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership
from tests.security.conftest import build_url, changed_tables, snapshot

#: The declared permission of every staff endpoint. A new staff endpoint must be added here.
STAFF_PERMISSIONS = {
    "staff.dashboard": "dashboard",
    "staff.audit": "audit",
    "staff.gift_aid": "gift_aid",
    "staff.gift_aid_claim": "gift_aid",
    "staff.gift_aid_claim_download": "gift_aid",
    "staff.import_upload": "import",
    "staff.import_map": "import",
    "staff.members": "members.view",
    "staff.member": "members.view",
    "staff.members_export": "export",
    "staff.member_data": "export",
    "staff.member_cancel": "members.edit",
    "staff.member_complimentary": "members.edit",
    "staff.member_edit_details": "members.edit",
    "staff.member_erase": "members.edit",
    "staff.member_extend": "members.edit",
    "staff.member_merge": "members.edit",
    "staff.member_add_note": "members.edit",
    "staff.member_offline_payment": "members.edit",
    "staff.member_refund": "refunds",
    "staff.member_change_plan": "members.edit",
    "staff.member_resend_welcome": "members.edit",
    "staff.member_suspend": "members.edit",
    "staff.member_unsuspend": "members.edit",
    "staff.news_list": "news",
    "staff.news_edit": "news",
    "staff.news_publish": "news",
    "staff.news_schedule": "news",
    "staff.news_unpublish": "news",
    "staff.news_new": "news",
    "staff.outbox_list": "outbox",
    "staff.outbox_detail": "outbox",
    "staff.outbox_resend": "outbox",
    "staff.pages_list": "pages",
    "staff.pages_edit": "pages",
    "staff.pages_new": "pages",
    "staff.payments": "payments",
    "staff.payments_export": "export",
    "staff.plans_list": "plans",
    "staff.plans_edit": "plans",
    "staff.plans_retire": "plans",
    "staff.plans_new": "plans",
    "staff.events_list": "events",
    "staff.event_new": "events",
    "staff.event_edit": "events",
    "staff.event_bookings": "events",
    "staff.event_check_in": "events",
    "staff.event_check_in_place": "events",
    "staff.event_bookings_export": "export",
    "staff.event_message": "events",
    "staff.event_booking_cancel": "events",
    "staff.agm_manage": "events",
    "staff.agm_setup": "events",
    "staff.agm_motions_window": "events",
    "staff.agm_decide_motion": "events",
    "staff.agm_motion_spanish": "events",
    "staff.agm_publish_agenda": "events",
    "staff.agm_voting_window": "events",
    "staff.agm_staff_vote": "events",
    "staff.agm_publish_results": "events",
    "staff.audiences": "audiences",
    "staff.audiences_count": "audiences",
    "staff.audience": "audiences",
    "staff.audience_export": "export",
    "staff.audience_tag": "audiences",
    "staff.audience_delete": "audiences",
    "staff.campaigns": "campaigns",
    "staff.campaign_new": "campaigns",
    "staff.campaign_edit": "campaigns",
    "staff.campaign_test": "campaigns",
    "staff.campaign_confirm": "campaigns.send",
    "staff.campaign_report": "campaigns",
    "staff.suppressions": "members.edit",
    "staff.member_consent": "members.edit",
    "staff.member_tag": "members.edit",
}

#: Who may do what, written out independently of crm.core.permissions (the test's own matrix).
ROLE_MATRIX = {
    "editor": {"news", "campaigns"},
    "staff": {
        "news",
        "dashboard",
        "members.view",
        "members.edit",
        "payments",
        "import",
        "export",
        "gift_aid",
        "outbox",
        "audit",
        "pages",
        "events",
        "audiences",
        "campaigns",
        "campaigns.send",
    },
    "admin": {
        "news",
        "dashboard",
        "members.view",
        "members.edit",
        "payments",
        "import",
        "export",
        "gift_aid",
        "outbox",
        "audit",
        "pages",
        "plans",
        "refunds",
        "users",
        "events",
        "audiences",
        "campaigns",
        "campaigns.send",
    },
}


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


def staff_rules(app):  # type: ignore[no-untyped-def]
    return sorted((r for r in app.url_map.iter_rules() if r.rule.startswith("/staff")), key=lambda r: r.rule)


def test_every_staff_endpoint_declares_a_permission_deny_by_default(app):
    missing = [
        r.endpoint
        for r in staff_rules(app)
        if not getattr(app.view_functions[r.endpoint], "required_permission", None)
    ]
    assert missing == []
    undeclared = {r.endpoint for r in staff_rules(app)} - set(STAFF_PERMISSIONS)
    assert undeclared == set(), "add new staff endpoints to STAFF_PERMISSIONS"
    for rule in staff_rules(app):
        assert app.view_functions[rule.endpoint].required_permission == STAFF_PERMISSIONS[rule.endpoint]


def test_the_app_grants_exactly_the_declared_matrix():
    from crm.core.permissions import ROLE_PERMISSIONS

    assert {role: set(perms) for role, perms in ROLE_PERMISSIONS.items() if role != "member"} == ROLE_MATRIX
    assert not ROLE_PERMISSIONS["member"]


def _requests(world, rule):  # type: ignore[no-untyped-def]
    url = build_url(world, rule, owner="b")
    methods = sorted(rule.methods & {"GET", "POST"})
    return [(method, url) for method in methods]


def test_anonymous_visitors_are_sent_to_sign_in_from_every_staff_url(world):
    client = world.client(None)
    for rule in staff_rules(world.app):
        for method, url in _requests(world, rule):
            response = client.open(url, method=method)
            assert response.status_code == 302 and "/login" in response.headers["Location"], (method, url)


def test_members_get_403_on_every_staff_url_and_nothing_changes(world):
    client = world.client("a")
    before = snapshot(exclude=set())
    for rule in staff_rules(world.app):
        for method, url in _requests(world, rule):
            assert client.open(url, method=method).status_code == 403, (method, url)
    assert changed_tables(before, snapshot(exclude=set())) == []


@pytest.mark.parametrize("role", ["editor", "staff", "admin"])
def test_each_staff_role_reaches_exactly_what_the_matrix_allows(world, role):
    client = world.client(role)
    wrong = []
    for rule in staff_rules(world.app):
        allowed = STAFF_PERMISSIONS[rule.endpoint] in ROLE_MATRIX[role]
        if "GET" in rule.methods:
            status = client.get(build_url(world, rule, owner="b")).status_code
            expected_ok = status in (200, 302) if rule.endpoint == "staff.import_map" else status == 200
            if allowed and not (expected_ok or (rule.endpoint == "staff.import_map" and status == 404)):
                wrong.append((rule.rule, "GET", status))
            if not allowed and status != 403:
                wrong.append((rule.rule, "GET", status))
        elif not allowed:  # a refused POST must not even be looked at
            before = snapshot(exclude=set())
            status = client.post(build_url(world, rule, owner="b"), data={"amount": "1"}).status_code
            if status != 403 or changed_tables(before, snapshot(exclude=set())):
                wrong.append((rule.rule, "POST", status))
    assert wrong == []


def test_editor_cannot_refund_or_export(world):
    client = world.client("editor")
    refund = f"/staff/members/{world.ids['b_contact']}/payments/{world.ids['b_payment']}/refund"
    assert client.post(refund, data={"amount": "1.00"}).status_code == 403
    assert client.get("/staff/members/export.csv").status_code == 403
    assert world.client("staff").post(refund, data={"amount": "1.00"}).status_code == 403  # admin only


def test_a_removed_role_applies_at_the_next_request(world):
    client = world.client("staff")
    assert client.get("/staff/members").status_code == 200
    staff = db.session.get(User, world.users["staff"].id)
    staff.role = "member"
    db.session.commit()
    assert client.get("/staff/members").status_code == 403
    staff.role = "editor"
    db.session.commit()
    assert client.get("/staff/members").status_code == 403
    assert client.get("/staff/news").status_code == 200


# --- 15: object-level access ---------------------------------------------------------------------


def test_a_member_asking_for_another_members_receipt_gets_404(world):
    client = world.client("a")
    assert client.get(f"/account/payments/{world.ids['a_payment']}/receipt").status_code == 200
    for payment_id in (world.ids["b_payment"], 999_999, random.randint(10**6, 10**9)):  # noqa: S311
        response = client.get(f"/account/payments/{payment_id}/receipt")
        assert response.status_code == 404
        assert "Ben" not in response.get_data(as_text=True)


def test_a_members_data_export_holds_only_their_own_data(world):
    client = world.client("a")
    for path in ("/account/data.json", "/account/data.csv", "/account"):
        body = client.get(path).get_data(as_text=True)
        assert "ana@example.org" in body
        assert "ben@example.org" not in body and "Okafor" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/account/payments/{id}/receipt",
        "/account/data.json",
        "/account/data.csv",
        "/account",
        "/account/details",
        "/account/gift-aid",
        "/account/renew",
    ],
)
def test_no_member_page_opens_without_signing_in(world, path):
    response = world.client(None).get(path.format(id=world.ids["a_payment"]))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unknown_tokens_open_nothing_and_reveal_nothing(world):
    client = world.client(None)
    for path in ("/login/link/{t}", "/password/reset/{t}", "/password/set/{t}"):
        response = client.get(path.format(t="0" * 43))
        assert response.status_code == 410
    response = client.get("/subscribe/confirm/" + "0" * 43)
    assert response.status_code in (200, 404, 410) and "ana@example.org" not in response.get_data(
        as_text=True
    )


def test_staff_asking_for_ids_that_do_not_exist_get_404(world):
    client = world.client("admin")
    for path in (
        "/staff/members/987654",
        "/staff/outbox/987654",
        "/staff/news/987654/edit",
        "/staff/pages/987654/edit",
        "/staff/plans/987654/edit",
        "/staff/gift-aid/claims/987654.csv",
    ):
        assert client.get(path).status_code == 404, path


def test_refund_of_another_contacts_payment_through_a_mismatched_url_is_404(world):
    client = world.client("admin")
    mixed = f"/staff/members/{world.ids['a_contact']}/payments/{world.ids['b_payment']}/refund"
    before = snapshot(exclude=set())
    assert client.post(mixed, data={"r{}-amount".format(world.ids["b_payment"]): "1.00"}).status_code == 404
    assert changed_tables(before, snapshot(exclude=set())) == []


# --- 18: mass assignment -------------------------------------------------------------------------


def test_extra_fields_on_the_member_details_form_are_ignored(world):
    client = world.client("a")
    contact = db.session.get(Contact, world.ids["a_contact"])
    form = {
        "title": "Dr",
        "first_name": "Ana",
        "last_name": "Torres",
        "email": "ana@example.org",
        "address_line1": "1 High Street",
        "address_line2": "",
        "town": "London",
        "postcode": "N1 9GU",
        "country": "GB",
        "phone": "",
        "version": str(contact.version),
        "is_staff": "1",
        "role": "admin",
        "status": "active",
        "amount": "1",
        "member_number": "M1",
        "stripe_customer_id": "cus_evil",
        "erased_at": "2020-01-01",
        "contact_id": str(world.ids["b_contact"]),
        "user_id": "1",
        "email_consent": "y",
        "paid_through": "2099-01-01",
    }
    response = client.post("/account/details", data=form)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    db.session.expire_all()
    user = db.session.get(User, world.users["a"].id)
    contact = db.session.get(Contact, world.ids["a_contact"])
    membership = db.session.get(Membership, world.ids["a_membership"])
    assert user.role == "member"
    assert contact.title == "Dr"  # the real field was saved
    assert contact.member_number != "M1" and contact.stripe_customer_id is None and contact.erased_at is None
    assert membership.paid_through.year < 2099
    assert db.session.get(Contact, world.ids["b_contact"]).title == ""
