"""`flask crm send-campaigns`: start every scheduled campaign that is due (run it each minute)."""

from __future__ import annotations

import click

from crm.campaigns import sending
from crm.cli import crm_cli
from crm.core.text import counted


@crm_cli.command("send-campaigns")
def send_campaigns_command() -> None:
    """Queue (or, without Redis, run) the sending job of each campaign whose time has come."""
    started = sending.start_due_campaigns()
    click.echo(f"{counted(started, 'campaign')} started")
