"""A plan's Spanish name and description: staff write them on the plan form; Spanish readers see
them on the join and home pages, their account and their emails; without them, the English."""

from __future__ import annotations

from sqlalchemy import select

from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership, Plan
from tests.billing.test_direct_debit import all_ok
from tests.fixtures import csrf_token, sign_in_as
from tests.join.test_join_form import VALID
from tests.stripe_fixtures import deliver_webhooks

PLAN = {"name": "Standard (yearly)", "slug": "standard", "description": "Full membership, renewed each year.",
        "name_es": "Estándar (anual)", "description_es": "Afiliación completa, renovada cada año.",
        "amount": "36.00", "interval": "year", "gift_aid_eligible": "y", "grace_days": "", "display_order": "1",
        "active": "y"}  # fmt: skip


def _save_plans(admin_client) -> Plan:  # type: ignore[no-untyped-def]
    token = csrf_token(admin_client, "/staff/plans/new")
    assert admin_client.post("/staff/plans/new", data={**PLAN, "csrf_token": token}).status_code == 302
    english_only = {**PLAN, "name": "Supporter", "slug": "supporter", "name_es": "", "description_es": ""}
    assert (
        admin_client.post("/staff/plans/new", data={**english_only, "csrf_token": token}).status_code == 302
    )
    admin_client.get("/logout")
    return db.session.scalar(select(Plan).where(Plan.slug == "standard"))


def test_the_spanish_join_page_shows_a_plans_spanish_name_or_else_its_english_one(
    admin_client, app, stripe_sandbox
) -> None:  # type: ignore[no-untyped-def]
    _save_plans(admin_client)
    visitor = app.test_client()
    english = visitor.get("/join", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<strong>Standard (yearly)</strong>" in english and "Estándar" not in english
    visitor.get("/language/es")
    spanish = visitor.get("/join").get_data(as_text=True)
    assert (
        "<strong>Estándar (anual)</strong>" in spanish
        and "Afiliación completa, renovada cada año." in spanish
    )
    assert "Standard (yearly)" not in spanish and "<strong>Supporter</strong>" in spanish
    assert "<strong>Estándar (anual)</strong>" in visitor.get("/").get_data(as_text=True)


def test_a_spanish_joiner_reads_the_spanish_plan_name_in_their_receipt_and_account(
    admin_client, app, stripe_sandbox
) -> None:  # type: ignore[no-untyped-def]
    plan = _save_plans(admin_client)
    joiner = app.test_client()
    joiner.get("/language/es")
    data = {
        **VALID,
        "plan": str(plan.id),
        "csrf_token": csrf_token(joiner, "/join"),
        "preferred_language": "es",
    }
    assert joiner.post("/join", data=data).status_code == 303
    membership = db.session.scalar(select(Membership))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    all_ok(deliver_webhooks(joiner))
    receipt = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert "Estándar (anual)" in receipt.body_text and "Standard (yearly)" not in receipt.body_text
    db.session.expire_all()
    sign_in_as(joiner, db.session.get(Membership, membership.id).contact.user)
    assert "<dd>Estándar (anual)</dd>" in joiner.get("/account").get_data(as_text=True)
