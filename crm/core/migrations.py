"""`flask db ...` (Flask-Migrate), bound only when a `db` command is run.

Importing Flask-Migrate loads alembic, mako and pygments (~12 MB resident), which no gunicorn
worker, `flask crm worker` or job needs: measured 97 -> 88 MB for the app on PostgreSQL
(bench: audience, the queuing job's process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def register_migrations(app: Flask) -> None:
    """Bind Flask-Migrate to `app` (which also adds its real `db` group to `app.cli`); the
    `flask db` commands call it, and so can a test that runs the migrations."""
    from flask_migrate import Migrate

    from crm.extensions import db

    if "migrate" not in app.extensions:
        Migrate(app, db, directory=str(MIGRATIONS_DIR), compare_type=True, render_as_batch=True)


class MigrationCommands(click.Group):
    """Stands in for Flask-Migrate's `db` group until one of its commands is looked up."""

    def _real(self) -> click.Group:
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's public unwrap
        register_migrations(app)
        real = app.cli.commands.get(self.name)
        if not isinstance(real, click.Group) or real is self:
            raise click.ClickException("Flask-Migrate did not add its `db` commands")
        return real

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        """`flask db ...` runs as Flask-Migrate's own group (its options, its commands)."""
        return self._real().make_context(info_name, args, parent=parent, **extra)


def register_migration_commands(app: Flask) -> None:
    app.cli.add_command(MigrationCommands("db", help="Perform database migrations (Flask-Migrate)."))
