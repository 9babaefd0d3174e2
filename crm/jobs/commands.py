"""CLI: `flask crm worker`, a background-job worker."""

from __future__ import annotations

import click

from crm.cli import crm_cli


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


@crm_cli.command("due")
def due_command() -> None:
    """Publish the scheduled posts and start the scheduled campaigns whose time has come (once)."""
    from crm.jobs.due import run_due

    summary = run_due()
    click.echo(
        ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in summary.items())
        or "nothing registered"
    )
