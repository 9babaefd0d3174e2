"""CLI: `flask crm send-outbox`, `flask crm worker`, `flask crm daily`, `flask crm stripe-reconcile`."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from crm.cli import crm_cli


@crm_cli.command("send-outbox")
def send_outbox_command() -> None:
    """Send every queued email that is due (also reclaims messages a dead worker left locked)."""
    from crm.email.delivery import sweep

    counts = sweep()
    click.echo(f"sent {counts['sent']}, to retry {counts['retry']}, failed {counts['failed']}")


@crm_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of a forked one.")
def worker_command(burst: bool, simple: bool) -> None:
    """Run a background-job worker on the "crm" RQ queue (needs REDIS_URL; run as many as you like)."""
    from crm.jobs.worker import start_worker

    try:
        start_worker(burst=burst, simple=simple)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error


@crm_cli.command("daily")
def daily_command() -> None:
    """The daily run for cron: lifecycle transitions, reminders, scheduled posts, outbox sweep."""
    from crm.memberships.daily import run_daily

    summary = run_daily()
    click.echo(", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in summary.items()))


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
    from crm.billing.stripe_gateway import GatewayError
    from crm.extensions import db

    try:
        report = reconcile(start, fix=fix)
    except GatewayError as error:
        db.session.rollback()
        raise click.ClickException(f"Stripe could not be read, nothing changed: {error}") from error
    if fix:
        db.session.commit()
    for line in report.lines():
        click.echo(line)
