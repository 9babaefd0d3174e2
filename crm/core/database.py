"""Database engine settings: SQLite gets WAL, foreign keys and a busy timeout (and, while a bulk
write holds a connection, a bigger cache: `bulk_write_settings`); PostgreSQL connections are
checked after they sat idle in the pool."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from flask import Flask
from sqlalchemy import CursorResult, Result, event, exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from crm.core.text import sqlite_fold
from crm.extensions import db

#: Page cache of each SQLite connection, in KiB (see `_sqlite_pragmas`).
SQLITE_CACHE_KIB = 256


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The search index's triggers fold accents with it (crm/staff/search.py).
    dbapi_connection.create_function("crm_fold", 1, sqlite_fold, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # A small page cache per connection (256 KB: the B-tree roots and inner pages every query
    # walks). Each pooled connection keeps its own, the file's pages are in the operating
    # system's cache anyway, and a gunicorn thread's connection that only bursts of traffic use
    # filled its cache slowly: with SQLite's default 2 MB a worker grew by 8-11 MB between its
    # 10,000th and 50,000th request, with 256 KB by 2-3.5 MB (bench: memory). A 64 MB cache grew a
    # worker to ~400 MB resident. Bulk writes raise it for their own chunk (`bulk_write_settings`).
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


#: SQLite settings for one bulk write (a CSV import's chunk), in force only while its connection
#: is checked out of the pool (see `bulk_write_settings`): a 64 MB page cache instead of the usual
#: 256 KB, so the indexes keyed by something random (a membership's paid-through date) stay in
#: memory as the list grows, and a WAL checkpoint every ~40 MB instead of every 4 MB, so a page that
#: every chunk touches is copied into the database file once per checkpoint, not after each chunk.
#: Without them each 2,000-row chunk cost more the bigger the list (commit 5 -> 10 µs a row from
#: 10,000 to 100,000 contacts; bench: import).
BULK_SQLITE_PRAGMAS = {"cache_size": -65536, "wal_autocheckpoint": 10000}


#: PostgreSQL settings for one bulk write's transaction (SET LOCAL: gone at its commit). Every read
#: in an import chunk looks rows up by key for a bounded list (2,000 emails, their contacts' ids),
#: so its cost must not depend on the table's size. The planner prefers one sequential scan to
#: 2,000 index probes on a table of up to a few hundred thousand rows, which makes each chunk's
#: lookups read the whole table and an import quadratic (the contact lookup took 7-9 µs a row in a
#: 10,000-row import and 12-14 in a 100,000-row one; bench: import). Sequential scans off, it probes
#: the indexes: 8-9 µs at both sizes.
BULK_POSTGRES_SETTINGS = ("SET LOCAL enable_seqscan = off",)


def bulk_write_settings() -> None:
    """Give the session's current connection the bulk-write settings above until it goes back to
    the pool. SQLite: `_restore_after_bulk_write` then puts the previous values back, so other
    requests never get a connection with a 64 MB cache. PostgreSQL: the settings last until the
    transaction ends. Call it inside the write's transaction."""
    dialect = db.engine.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return
    connection = db.session.connection()
    if dialect == "postgresql":
        for statement in BULK_POSTGRES_SETTINGS:
            connection.exec_driver_sql(statement)
        return
    if "bulk_write_restore" in connection.info:
        return
    driver = connection.connection.driver_connection
    assert driver is not None  # a checked-out connection has its DBAPI connection
    previous = {name: driver.execute(f"PRAGMA {name}").fetchone()[0] for name in BULK_SQLITE_PRAGMAS}
    for name, value in BULK_SQLITE_PRAGMAS.items():
        driver.execute(f"PRAGMA {name}={int(value)}")
    connection.info["bulk_write_restore"] = previous


#: How each database is told that a commit need not wait for the disk, and put back afterwards.
_NO_DISK_WAIT = {
    "sqlite": ("PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL"),
    "postgresql": ("SET synchronous_commit = off", "RESET synchronous_commit"),
}


@contextmanager
def commits_not_waiting_for_disk(connection: Connection) -> Iterator[Connection]:
    """While it lasts, the commits of `connection` (one held outside any transaction) do not wait
    for the disk flush: SQLite's WAL is synced at checkpoints only (`synchronous=NORMAL`),
    PostgreSQL does not wait for its WAL flush (`synchronous_commit = off`). A killed process
    loses nothing either way (the database has the commit); only the machine or the database
    server crashing could forget the last moment's commits. For the outbox's marks, whose
    messages then go again: at least once, as for a dead worker's claims."""
    statements = _NO_DISK_WAIT.get(connection.dialect.name)
    if statements is None:
        yield connection
        return
    relax, restore = statements
    connection.exec_driver_sql(relax)
    connection.commit()
    try:
        yield connection
    finally:
        if not connection.invalidated and not connection.closed:
            connection.rollback()
            connection.exec_driver_sql(restore)
            connection.commit()


def _restore_after_bulk_write(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    previous = record.info.pop("bulk_write_restore", None)
    if previous and dbapi_connection is not None:
        for name, value in previous.items():
            dbapi_connection.execute(f"PRAGMA {name}={int(value)}")


#: A pooled PostgreSQL connection that sat unused for longer than this is pinged before it is
#: handed out (a restarted server or a dropped link is then noticed without failing a request).
#: One in steady use is not: pinging every checkout (`pool_pre_ping`) cost a round trip per request.
PING_AFTER_IDLE_SECONDS = 2.0


def _mark_returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["returned_at"] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    returned_at = record.info.get("returned_at")
    if returned_at is None or time.monotonic() - returned_at <= PING_AFTER_IDLE_SECONDS:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as error:
        if dialect.is_disconnect(error, dbapi_connection, None):
            # The pool drops this connection and hands out a new one.
            raise exc.DisconnectionError() from error
        raise


def _watch_postgres_pool(engine: Engine) -> None:
    dialect = engine.dialect

    def on_checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        _ping_if_idle(dialect, dbapi_connection, record)

    event.listen(engine, "checkin", _mark_returned)
    event.listen(engine, "checkout", on_checkout)


def init_app(app: Flask) -> None:
    with app.app_context():
        engine: Engine = db.engine
        if getattr(engine, "_crm_configured", False):
            return
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "checkin", _restore_after_bulk_write)
        elif engine.dialect.name == "postgresql":
            _watch_postgres_pool(engine)
        engine._crm_configured = True  # type: ignore[attr-defined]  # our own marker on the Engine object


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
            update(model)
            .where(model.id == ident)
            .values(id=ident)
            .execution_options(synchronize_session=False)
        )
    return db.session.get(model, ident, with_for_update=True, populate_existing=True)


def insert_once(obj: Any) -> bool:
    """Add and flush a row whose unique key may already exist; False when another row won.

    PostgreSQL uses a savepoint, so the caller's transaction continues. pysqlite does not open a
    transaction before the first write, so a savepoint there would commit early: on SQLite the
    IntegrityError propagates and the caller rolls back and retries (writes are serialised).
    """
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.add(obj)
        db.session.flush()
        return True
    try:
        with db.session.begin_nested():
            db.session.add(obj)
            db.session.flush()
    except IntegrityError:
        return False
    return True


def affected_rows(result: Result[Any]) -> int:
    """The row count of a bulk UPDATE or DELETE (`Session.execute` is typed as returning a plain
    Result; for those statements it is the CursorResult that has it)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)
