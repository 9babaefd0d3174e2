"""`flask crm import-members FILE.csv`: the same import as the staff page, with a progress bar
(off a terminal, a log line per committed chunk instead)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from crm.cli import crm_cli
from crm.extensions import db
from crm.staff import import_service as service


def _parse_map(pairs: tuple[str, ...], headers: list[str]) -> dict[str, str]:
    mapping = service.guess_mapping(headers)
    for pair in pairs:
        name, sep, header = pair.partition("=")
        if not sep or name not in service.FIELDS:
            raise click.BadParameter(
                f"expected FIELD=Header with FIELD one of {', '.join(service.FIELDS)}", param_hint="--map"
            )
        if header and header not in headers:
            raise click.BadParameter(f"the file has no column “{header}”", param_hint="--map")
        mapping.pop(name, None)
        if header:
            mapping[name] = header
    return mapping


def _log_progress(total: int) -> Callable[[service.ImportReport], None]:
    """Off a terminal (cron, a log file) the bar prints nothing: log a line per committed chunk
    instead, so the log of an interrupted import shows how far it got (running it again finishes)."""

    def log(report: service.ImportReport) -> None:
        click.echo(
            f"committed: {report.rows:,} of {total:,} rows read (created {report.created:,}, "
            f"updated {report.updated:,}, unchanged {report.unchanged:,}, errors {len(report.errors):,})",
            err=True,
        )

    return log


@crm_cli.command("import-members")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "pairs",
    multiple=True,
    metavar="FIELD=Header",
    help="Which column holds a field (guessed from the header names otherwise); FIELD= to skip it.",
)
@click.option("--chunk-size", default=service.DEFAULT_CHUNK, show_default=True, help="Rows per transaction.")
@click.option("--show-errors", default=50, show_default=True, help="How many bad rows to list.")
def import_members_command(file: Path, pairs: tuple[str, ...], chunk_size: int, show_errors: int) -> None:
    """Import members from a CSV file: matched by email, safe to run again."""
    try:
        text = service.decode_upload(file.read_bytes())
        headers = service.read_headers(text)
    except service.ImportFileError as error:
        raise click.ClickException(str(error)) from error
    mapping = _parse_map(pairs, headers)
    click.echo("Columns: " + ", ".join(f"{k} <- {v}" for k, v in mapping.items()))
    total = service.count_rows(text)
    stderr = sys.stderr
    with click.progressbar(length=total, label=f"Importing {total:,} rows", file=stderr) as bar:
        try:
            report = service.import_members(
                text,
                mapping,
                source_name=file.name,
                actor_label="cli",
                chunk_size=max(1, chunk_size),
                on_chunk=db.session.commit,
                progress=bar.update,
                after_chunk=None if stderr.isatty() else _log_progress(total),
            )
        except service.ImportFileError as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from error
        db.session.commit()
    click.echo(
        f"Rows: {report.rows:,}  created: {report.created:,}  updated: {report.updated:,}  "
        f"unchanged: {report.unchanged:,}  errors: {len(report.errors):,}"
    )
    for problem in report.errors[:show_errors]:
        click.echo(f"line {problem.line}: {problem.reason}", err=True)
    if len(report.errors) > show_errors:
        click.echo(f"... and {len(report.errors) - show_errors:,} more", err=True)
