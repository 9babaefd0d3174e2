"""Public pages (sanitised Markdown, navigation) and membership plans (create, edit, retire, Stripe)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.memberships.models import Plan
from crm.news.models import Page
from tests.staff_content.conftest import make_plan


def _page_data(**overrides):  # type: ignore[no-untyped-def]
    data = {"title": "About us", "slug": "about", "body": "We **campaign**.<script>x()</script>",
            "show_in_nav": "y", "nav_order": "5", "action": "save"}  # fmt: skip
    data.update(overrides)
    return data


def test_staff_create_a_page_shown_in_navigation(staff_client):
    response = staff_client.post("/staff/pages/new", data=_page_data())
    assert response.status_code == 302
    page = db.session.scalar(select(Page).where(Page.slug == "about"))
    assert page.body_html.startswith("<p>We <strong>campaign</strong>.") and "<script" not in page.body_html
    home = staff_client.get("/").get_data(as_text=True)
    assert 'href="/pages/about"' in home
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "page.create")
        )
        == 1
    )


def test_editing_a_page_and_hiding_it_from_navigation(staff_client):
    staff_client.post("/staff/pages/new", data=_page_data())
    page = db.session.scalar(select(Page).where(Page.slug == "about"))
    data = _page_data(title="Who we are", body="New text")
    del data["show_in_nav"]
    assert staff_client.post(f"/staff/pages/{page.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert page.title == "Who we are" and page.body_html == "<p>New text</p>\n" and page.show_in_nav is False
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "page.update"))
    assert event.before["title"] == "About us" and event.after["title"] == "Who we are"


def test_page_preview_and_bad_input_save_nothing(staff_client):
    response = staff_client.post("/staff/pages/new", data=_page_data(action="preview"))
    assert "Preview (not saved)" in response.get_data(as_text=True)
    response = staff_client.post("/staff/pages/new", data=_page_data(slug="Bad Slug", nav_order="lots"))
    html = response.get_data(as_text=True)
    assert "lower-case letters" in html and "Enter a whole number" in html
    assert db.session.scalar(select(func.count()).select_from(Page)) == 0


def _prices(sandbox) -> list[tuple[int, bool]]:  # type: ignore[no-untyped-def]
    """The Prices Stripe holds, oldest first: (amount, whether still offered)."""
    return [(p["unit_amount"], p["active"]) for p in reversed(sandbox.find("price"))]


def _plan_data(**overrides):  # type: ignore[no-untyped-def]
    data = {"name": "Standard yearly", "slug": "standard", "description": "For most people", "amount": "36.00",
            "interval": "year", "gift_aid_eligible": "y", "grace_days": "", "display_order": "1", "active": "y"}  # fmt: skip
    data.update(overrides)
    return data


def test_admin_creates_edits_and_retires_a_plan(admin_client, stripe_sandbox):
    assert admin_client.post("/staff/plans/new", data=_plan_data(amount="£36.50")).status_code == 302
    plan = db.session.scalar(select(Plan).where(Plan.slug == "standard"))
    assert plan.amount == 3650 and plan.interval == "year" and plan.grace_days is None
    assert stripe_sandbox.object(plan.stripe_price_id)["unit_amount"] == 3650
    response = admin_client.post(
        f"/staff/plans/{plan.id}/edit", data=_plan_data(amount="40", grace_days="14")
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert plan.amount == 4000 and plan.grace_days == 14
    assert stripe_sandbox.object(plan.stripe_price_id)["unit_amount"] == 4000
    assert _prices(stripe_sandbox) == [(3650, False), (4000, True)]  # the old price is archived
    assert admin_client.post(f"/staff/plans/{plan.id}/retire").status_code == 302
    db.session.expire_all()
    assert plan.active is False
    plans_page = admin_client.get("/staff/plans").get_data(as_text=True)
    assert "Retired" in plans_page
    assert "<td>Yearly</td>" in plans_page and "<td>year</td>" not in plans_page  # in words
    actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["plan.create", "plan.update", "plan.retire"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("amount", "-5", "Enter an amount in pounds"), ("amount", "0.50", "at least £1.00"),
     ("amount", "12.345", "Enter an amount in pounds"), ("interval", "week", "Not a valid choice"),
     ("slug", "Has Spaces", "lower-case letters"), ("name", "", "Enter a name")],
)  # fmt: skip
def test_bad_plan_input_is_refused_with_a_message(admin_client, stripe_sandbox, field, value, message):
    response = admin_client.post("/staff/plans/new", data=_plan_data(**{field: value}))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Plan)) == 0
    assert stripe_sandbox.find("product") == [] and stripe_sandbox.find("price") == []


def test_stripe_error_saves_nothing(admin_client, stripe_sandbox):
    plan = make_plan(stripe_price_id="price_old")
    db.session.commit()
    stripe_sandbox.fail_next("/v1/products", "error_500")
    response = admin_client.post(f"/staff/plans/{plan.id}/edit", data=_plan_data(amount="99"))
    assert response.status_code == 200
    assert "nothing was saved" in response.get_data(as_text=True)
    db.session.expire_all()
    assert plan.amount == 3600 and plan.stripe_price_id == "price_old"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_a_plan_stripe_did_not_price_is_not_reported_saved(admin_client, stripe_sandbox):
    """The plans page says "Saved" only when Stripe holds the plan's price (issue 25, item 8): here
    Stripe made the Product, then the answer to the Price was lost on the way."""
    stripe_sandbox.fail_next("/v1/prices", "drop_after")
    response = admin_client.post("/staff/plans/new", data=_plan_data(), follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Saved the plan" not in html and "nothing was saved" in html
    assert db.session.scalar(select(func.count()).select_from(Plan)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_duplicate_plan_slug_is_refused(admin_client, stripe_sandbox):
    make_plan()
    db.session.commit()
    response = admin_client.post("/staff/plans/new", data=_plan_data())
    assert "Another plan already uses that slug" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Plan)) == 1
