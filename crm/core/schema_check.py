"""Is the database's schema the one this code expects? Asked at start-up, by /healthz and by the
503 page, so an unmigrated database says what to do instead of "briefly unavailable"."""

from __future__ import annotations

import logging
from functools import cache

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from crm.extensions import db

log = logging.getLogger("crm.schema")

SCHEMA_OUT_OF_DATE = "the database schema is not up to date: run `flask db upgrade`"


@cache
def _migration_heads(directory: str) -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory(directory).get_heads())


def _migrations_directory() -> str:
    from config import BASE_DIR

    return str(BASE_DIR / "migrations")


def schema_is_current(engine: Engine | None = None) -> bool:
    """False when a table of the models is missing, or Alembic's recorded revision is not the
    migrations' head (a schema made by `create_all`, as in tests, has no revision to compare).
    Raises SQLAlchemy's errors when the database cannot be reached."""
    engine = engine or db.engine
    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        if not {table.name for table in db.metadata.sorted_tables} <= present:
            return False
        if "alembic_version" not in present:
            return True
        recorded = {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    try:
        heads = _migration_heads(_migrations_directory())
    except Exception:  # noqa: BLE001  (no migrations shipped: nothing to compare with)
        return True
    return recorded == set(heads)


def warn_if_schema_out_of_date() -> bool:
    """Log (and return False) when the schema is behind; True when current or unreachable."""
    try:
        current = schema_is_current()
    except Exception as error:  # noqa: BLE001  (unreachable: the 503 page and /healthz say so)
        log.warning("start-up: cannot check the database schema (%s)", type(error).__name__)
        return True
    if not current:
        log.error("start-up: %s", SCHEMA_OUT_OF_DATE)
    return current
