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


@crm_cli.command("schedule")
@click.option("--daily-at", envvar="DAILY_AT", default="03:00", show_default=True,
              help="When the daily run runs (HH:MM, UTC).")  # fmt: skip
def schedule_command(daily_at: str) -> None:
    """The scheduler: the daily run now and each day at --daily-at, and `crm due` every minute."""
    from crm.jobs.due import run_schedule

    try:
        hour, minute = (int(part) for part in daily_at.split(":"))
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError
    except ValueError:
        raise click.BadParameter("use HH:MM, e.g. 03:00", param_hint="--daily-at") from None
    from crm.memberships.daily import run_daily

    run_schedule(run_daily, at=daily_at)
