"""CLI: `flask crm daily`, the daily run for cron; it lives with the lifecycle it drives."""

from __future__ import annotations

import click

from crm.cli import crm_cli


@crm_cli.command("daily")
def daily_command() -> None:
    """The daily run for cron: lifecycle transitions, reminders, scheduled posts, outbox sweep."""
    from crm.memberships.daily import run_daily

    summary = run_daily()
    click.echo(", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in summary.items()))
