"""`flask crm stripe-sync-plans`: create or update each plan's Stripe Product and Price."""

from __future__ import annotations

import click
from sqlalchemy import select

from crm.billing.stripe_gateway import GatewayError, sync_plan
from crm.cli import crm_cli
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
    click.echo(f"{changed} of {len(plans)} plan(s) changed.")
