"""Database engine settings: SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from crm.extensions import db


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # A 64 MB page cache per connection (SQLite's default is 2 MB): at 100,000 members the
    # indexes outgrow 2 MB, and every insert or lookup then goes back to the file.
    cursor.execute("PRAGMA cache_size=-65536")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def init_app(app: Flask) -> None:
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite" and not getattr(engine, "_crm_pragmas", False):
            event.listen(engine, "connect", _sqlite_pragmas)
            engine._crm_pragmas = True  # type: ignore[attr-defined]


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def locked_for_update(model: Any, ident: int) -> Any:
    """Re-read a row for a read-modify-write, so concurrent writers cannot both act on one old value.

    PostgreSQL: SELECT ... FOR UPDATE (the second writer waits for the first to commit).
    SQLite: a same-value UPDATE of the row first takes the database write lock (writers are
    serialised, and pysqlite runs earlier reads outside any transaction), then the row is re-read.
    """
    from sqlalchemy import update

    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            update(model).where(model.id == ident).values(id=ident).execution_options(synchronize_session=False)
        )
    return db.session.get(model, ident, with_for_update=True, populate_existing=True)
