"""`flask crm export-members [-o FILE]`: the members CSV, streamed (memory flat at any size)."""

from __future__ import annotations

import sys

import click

from crm.cli import crm_cli
from crm.extensions import db
from crm.staff.exports import audit_member_export, count_members, member_csv_lines
from crm.staff.search import MemberFilters


@crm_cli.command("export-members")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE, not stdout."
)
@click.option("--status", default="", help="Only memberships in this status (or 'none').")
def export_members(output: str | None, status: str) -> None:
    """Write every contact (the staff page's CSV columns) to standard output or FILE."""
    filters = MemberFilters(status=status.strip().lower())
    rows = count_members(filters)
    audit_member_export(filters, rows=rows, via="cli")
    db.session.commit()
    # newline="" lets csv.writer's CRLF (RFC 4180) through unchanged.
    stream = open(output, "w", encoding="utf-8", newline="") if output else None  # noqa: SIM115
    target = stream or sys.stdout
    try:
        for line in member_csv_lines(filters):
            target.write(line)
    finally:
        if stream is not None:
            stream.close()
        else:
            sys.stdout.flush()
    if output:
        click.echo(f"Wrote {rows:,} contacts to {output}", err=True)
