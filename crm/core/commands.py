"""`flask crm backup PATH` and `flask crm restore PATH`: a consistent copy while the app runs."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess  # noqa: S404  (pg_dump / pg_restore with fixed arguments, no shell)
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from crm.cli import crm_cli
from crm.extensions import db


def _libpq_url() -> str:
    url = db.engine.url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def backup_database(path: Path) -> None:
    """SQLite: the online backup API (consistent while writers run). PostgreSQL: pg_dump -Fc."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(url.database or ":memory:")
        target = sqlite3.connect(path)
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        return
    pg_dump = shutil.which("pg_dump") or "pg_dump"
    subprocess.run(  # noqa: S603
        [pg_dump, "--format=custom", "--no-owner", f"--file={path}", _libpq_url()],
        check=True,
        capture_output=True,
    )


def restore_database(path: Path) -> None:
    """Replace the database's contents with the backup at `path`."""
    url = db.engine.url
    db.session.remove()
    db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(path)
        target = sqlite3.connect(url.database or ":memory:")
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        return
    pg_restore = shutil.which("pg_restore") or "pg_restore"
    subprocess.run(  # noqa: S603
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_libpq_url()}",
            str(path),
        ],
        check=True,
        capture_output=True,
    )


@crm_cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """Write a consistent copy of the database to PATH (safe while the app runs)."""
    try:
        backup_database(path)
    except (subprocess.CalledProcessError, sqlite3.Error, OSError) as error:
        raise click.ClickException(f"backup failed: {_reason(error)}") from None
    click.echo(f"Backup written to {path}")


@crm_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(path: Path, yes: bool) -> None:
    """Replace the database with the backup at PATH."""
    if not yes:
        click.confirm(
            f"Replace everything in {make_url(str(db.engine.url)).database} with {path}?", abort=True
        )
    try:
        restore_database(path)
    except (subprocess.CalledProcessError, sqlite3.Error, OSError) as error:
        raise click.ClickException(f"restore failed: {_reason(error)}") from None
    click.echo(f"Restored from {path}")


def _reason(error: Exception) -> str:
    """The last line a failed tool printed (never a traceback)."""
    if isinstance(error, subprocess.CalledProcessError) and error.stderr:
        lines = error.stderr.decode(errors="replace").strip().splitlines()
        if lines:
            return lines[-1]
    return str(error)
