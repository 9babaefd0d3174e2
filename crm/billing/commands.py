"""`flask crm stripe-sync-plans` (each plan's Stripe Product and Price) and `flask crm stripe-reconcile`."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from sqlalchemy import select

from crm.billing.stripe_gateway import GatewayError, sync_plan
from crm.cli import crm_cli
from crm.core.text import counted
from crm.extensions import db
from crm.memberships.models import Plan


@crm_cli.command("stripe-sync-plans")
def stripe_sync_plans() -> None:
    """Create or update the Product and Price of every plan (a changed amount makes a new Price)."""
    plans = db.session.scalars(select(Plan).order_by(Plan.display_order, Plan.id)).all()
    changed = 0
    try:
        for plan in plans:
            old_price = plan.stripe_price_id
            if sync_plan(plan):
                changed += 1
                detail = (
                    f"price {old_price} -> {plan.stripe_price_id}"
                    if old_price != plan.stripe_price_id
                    else "updated"
                )
                click.echo(f"{plan.slug}: {detail} (product {plan.stripe_product_id})")
            else:
                click.echo(f"{plan.slug}: unchanged ({plan.stripe_price_id})")
    except GatewayError as error:
        db.session.rollback()
        raise click.ClickException(f"Stripe refused the sync, nothing saved: {error}") from error
    db.session.commit()
    click.echo(f"{changed} of {counted(len(plans), 'plan')} changed.")


@crm_cli.command("stripe-reconcile")
@click.option("--since", "since", required=True, help="First day to compare, YYYY-MM-DD (UTC).")
@click.option("--fix", is_flag=True, help="Repair the differences (default: only report them).")
def stripe_reconcile_command(since: str, fix: bool) -> None:
    """Compare Stripe's subscriptions, invoices and refunds with ours; report (and --fix) differences."""
    try:
        start = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as error:
        raise click.BadParameter("use the form YYYY-MM-DD, e.g. 2025-01-31", param_hint="--since") from error
    from crm.billing.reconcile import reconcile

    try:
        report = reconcile(start, fix=fix)
    except GatewayError as error:
        db.session.rollback()
        raise click.ClickException(f"Stripe could not be read, nothing changed: {error}") from error
    if fix:
        db.session.commit()
    for line in report.lines():
        click.echo(line)
