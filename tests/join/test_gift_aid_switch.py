"""GIFT_AID_ENABLED: an organisation that is not a charity sees no Gift Aid anywhere.

The same walk runs with the setting on and off: the join and donate forms, the member's
account and receipt, the staff member page, members list, plans, nav, dashboard and members CSV,
and every Gift Aid route (404 when off).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.contacts.models import GiftAidDeclaration
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import make_user, sign_in_as
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.staff.conftest import declare_gift_aid, make_membership, make_payment, make_plan
from tests.stripe_fixtures import deliver_webhooks

GIFT_AID_ROUTES = [
    ("get", "/account/gift-aid"),
    ("post", "/account/gift-aid"),
    ("post", "/account/gift-aid/cancel"),
    ("get", "/staff/gift-aid"),
    ("post", "/staff/gift-aid/claim"),
    ("get", "/staff/gift-aid/claims/1.csv"),
]


@pytest.fixture(params=[True, False], ids=["gift-aid-on", "gift-aid-off"])
def enabled(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def app_config(enabled: bool) -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "GIFT_AID_ENABLED": enabled}


def _shows_gift_aid(page: str) -> bool:
    return "Gift Aid" in page


def test_public_forms_ask_about_gift_aid_only_when_it_is_on(client, enabled):
    make_plans()
    db.session.commit()
    join = client.get("/join").get_data(as_text=True)
    donate = client.get("/donate").get_data(as_text=True)
    assert _shows_gift_aid(join) is enabled
    assert _shows_gift_aid(donate) is enabled
    assert ('name="gift_aid"' in join) is enabled and ('name="postcode"' in donate) is enabled


def test_members_area_and_staff_pages_show_gift_aid_only_when_it_is_on(client, enabled):
    plan = make_plan(gift_aid_eligible=True)
    member = make_user("member@example.org", "member")
    membership = make_membership(member.contact, plan)
    payment = make_payment(member.contact, membership, gift_aid_eligible=True)
    declare_gift_aid(member.contact)
    admin = make_user("admin@example.org", "admin", first_name="Alex", last_name="Admin")
    db.session.commit()
    contact_id, payment_id = member.contact.id, payment.id

    sign_in_as(client, member)
    for path in ("/account", f"/account/payments/{payment_id}/receipt"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert _shows_gift_aid(response.get_data(as_text=True)) is enabled, path

    sign_in_as(client, admin)
    for path in ("/staff", f"/staff/members/{contact_id}", "/staff/members", "/staff/plans",
                 f"/staff/plans/{plan.id}/edit"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200, path
        assert _shows_gift_aid(response.get_data(as_text=True)) is enabled, path
    csv_header = client.get("/staff/members/export.csv").get_data(as_text=True).splitlines()[0]
    assert ("Gift Aid" in csv_header.split(",")) is enabled
    rows = client.get("/staff/members/export.csv").get_data(as_text=True).splitlines()
    assert len({len(row.split(",")) for row in rows}) == 1, "every row has the header's columns"


def test_gift_aid_routes_answer_404_when_it_is_off(client, enabled):
    make_user("member@example.org", "member")
    admin = make_user("admin@example.org", "admin", first_name="Alex", last_name="Admin")
    db.session.commit()
    sign_in_as(client, admin)
    for method, path in GIFT_AID_ROUTES:
        status = getattr(client, method)(path).status_code
        if enabled:
            assert status != 404 or path.endswith("1.csv"), (method, path)  # no claim 1 yet
        else:
            assert status == 404, (method, path)


def test_a_gift_aid_tick_sent_when_it_is_off_records_no_declaration(client, enabled, stripe_sandbox):
    plans = make_plans()
    db.session.commit()
    client.post("/join", data=form(plans, gift_aid="y", donation="10"))
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    deliver_webhooks(client)
    declarations = db.session.scalar(select(func.count(GiftAidDeclaration.id)))
    assert declarations == (1 if enabled else 0)
    receipt = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert ("Gift Aid" in receipt.body_text) is enabled
    assert ("Gift Aid" in (receipt.body_html or "")) is enabled
