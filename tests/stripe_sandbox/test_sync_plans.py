"""sync_plan and `flask crm stripe-sync-plans`: Products and Prices follow the plans."""

from __future__ import annotations

from crm.billing import stripe_gateway as gateway
from crm.extensions import db
from crm.memberships.models import Plan

from .helpers import make_plan


def test_first_sync_creates_product_and_recurring_price(stripe_sandbox):
    plan = make_plan()
    assert gateway.sync_plan(plan) is True
    product = stripe_sandbox.object(plan.stripe_product_id)
    price = stripe_sandbox.object(plan.stripe_price_id)
    assert product["metadata"] == {"plan_id": str(plan.id)} and product["name"] == plan.name
    assert (price["unit_amount"], price["currency"], price["recurring"]["interval"]) == (3600, "gbp", "year")
    assert price["metadata"] == {"plan_id": str(plan.id)} and price["product"] == product["id"]


def test_a_second_sync_of_an_unchanged_plan_changes_nothing(stripe_sandbox):
    plan = make_plan()
    gateway.sync_plan(plan)
    count = len(stripe_sandbox.find("price"))
    assert gateway.sync_plan(plan) is False
    assert len(stripe_sandbox.find("price")) == count


def test_a_changed_amount_makes_a_new_price_and_archives_the_old(stripe_sandbox):
    plan = make_plan()
    gateway.sync_plan(plan)
    old = plan.stripe_price_id
    plan.amount = 4200
    assert gateway.sync_plan(plan) is True
    assert plan.stripe_price_id != old
    assert stripe_sandbox.object(old)["active"] is False and stripe_sandbox.object(old)["unit_amount"] == 3600
    new = stripe_sandbox.object(plan.stripe_price_id)
    assert new["active"] is True and new["unit_amount"] == 4200


def test_changing_back_within_a_day_reuses_and_reactivates_the_first_price(stripe_sandbox):
    plan = make_plan()
    gateway.sync_plan(plan)
    first = plan.stripe_price_id
    plan.amount = 4200
    gateway.sync_plan(plan)
    plan.amount = 3600
    gateway.sync_plan(plan)
    assert plan.stripe_price_id == first and stripe_sandbox.object(first)["active"] is True
    assert [p["active"] for p in stripe_sandbox.find("price") if p["unit_amount"] == 4200] == [False]


def test_life_plan_gets_a_one_off_price_and_a_rename_updates_the_product(stripe_sandbox):
    plan = make_plan("life", amount=50000, interval="lifetime")
    gateway.sync_plan(plan)
    assert stripe_sandbox.object(plan.stripe_price_id)["recurring"] is None
    assert stripe_sandbox.object(plan.stripe_price_id)["type"] == "one_time"
    price = plan.stripe_price_id
    plan.name = "Life membership"
    assert gateway.sync_plan(plan) is True
    assert plan.stripe_price_id == price
    assert stripe_sandbox.object(plan.stripe_product_id)["name"] == "Life membership"


def test_cli_sync_plans_commits_ids_and_reports_changes(stripe_sandbox, runner):
    make_plan("standard-yearly")
    make_plan("monthly", amount=400, interval="month")
    db.session.commit()
    result = runner.invoke(args=["crm", "stripe-sync-plans"])
    assert result.exit_code == 0, result.output
    assert "2 of 2 plans changed." in result.output
    db.session.expire_all()
    assert all(p.stripe_price_id for p in Plan.query.all())
    again = runner.invoke(args=["crm", "stripe-sync-plans"])
    assert "0 of 2 plans changed." in again.output


def test_cli_sync_plans_saves_nothing_when_stripe_is_unreachable(app, runner):
    make_plan()
    db.session.commit()
    result = runner.invoke(args=["crm", "stripe-sync-plans"])
    assert result.exit_code != 0 and "nothing saved" in result.output
    db.session.expire_all()
    assert Plan.query.one().stripe_price_id is None
