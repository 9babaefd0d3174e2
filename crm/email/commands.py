"""CLI: `flask crm send-outbox`."""

from __future__ import annotations

import click

from crm.cli import crm_cli


@crm_cli.command("send-outbox")
def send_outbox_command() -> None:
    """Send every queued email that is due (also reclaims messages a dead worker left locked)."""
    from crm.email.delivery import sweep

    counts = sweep()
    click.echo(f"sent {counts['sent']}, to retry {counts['retry']}, failed {counts['failed']}")
