"""Database engine settings: SQLite gets WAL, foreign keys and a busy timeout (and, while a bulk
write holds a connection, a bigger cache: `bulk_write_settings`); PostgreSQL connections are
checked after they sat idle in the pool."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import Select, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from crm.extensions import db

#: Page cache of each SQLite connection, in KiB (see `_sqlite_pragmas`).
SQLITE_CACHE_KIB = 256


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
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
    previous = {name: driver.execute(f"PRAGMA {name}").fetchone()[0] for name in BULK_SQLITE_PRAGMAS}
    for name, value in BULK_SQLITE_PRAGMAS.items():
        driver.execute(f"PRAGMA {name}={int(value)}")
    connection.info["bulk_write_restore"] = previous


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

    def on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
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
        engine._crm_configured = True  # type: ignore[attr-defined]


class HotRead:
    """A read that every request makes (the session check), on a pooled connection of its own,
    outside the request's transaction, with the SQL compiled once per database.

    On PostgreSQL the connection is in autocommit, so the read is one round trip (no BEGIN and
    ROLLBACK), and a request that reads nothing else never opens a transaction. The SQL goes to
    the driver's cursor as it is, on a connection from the engine's pool (its checkout and checkin
    events, such as the ping after idle, still run); the values are converted by the columns' own
    types. SQLAlchemy's Connection is skipped: building it, its result object and its execution
    context cost more than the read itself (a signed-in /news page: ~25 % less time per request
    on SQLite, ~15 % on PostgreSQL, measured in-process). What it would have done on an error is
    done here: on a lost connection every pooled connection from before is replaced, and the
    error is raised as SQLAlchemy's DBAPIError, which the app answers with its "database
    unavailable" page (tests/reliability/test_processes.py restarts PostgreSQL under a member).
    While anything listens to the engine's statement events (a query counter in a test, tracing),
    the read goes through a SQLAlchemy Connection instead, so they see it as before.
    """

    def __init__(self, build: Callable[[], Select[Any]]) -> None:
        self._build = build
        self._compiled: dict[str, _Compiled] = {}

    def first(self, **params: Any) -> dict[str, Any] | None:
        engine = db.engine
        compiled = self._compiled.get(engine.dialect.name) or self._compile(engine.dialect)
        values = compiled.statement.construct_params(params)
        arguments = tuple(values[name] for name in compiled.order) if compiled.order is not None else values
        if engine.dispatch.before_cursor_execute or engine.dispatch.after_cursor_execute:
            row = _fetch_one_observed(engine, compiled.sql, arguments)
        else:
            row = _fetch_one(engine, compiled.sql, arguments)
        if row is None:
            return None
        return {
            label: convert(value) if convert else value
            for label, convert, value in zip(compiled.labels, compiled.converters, row, strict=True)
        }

    def _compile(self, dialect: Any) -> _Compiled:
        statement = self._build()
        compiled = statement.compile(dialect=dialect)
        for bind in compiled.binds.values():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise ValueError(f"HotRead passes parameters as they are; {bind.key} needs converting")
        columns = list(statement.selected_columns)
        result = _Compiled(
            statement=compiled,
            sql=str(compiled),
            order=tuple(compiled.positiontup or ()) if compiled.positional else None,
            labels=tuple(column.key for column in columns),
            converters=tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns),
        )
        self._compiled[dialect.name] = result
        return result


def _fetch_one_observed(engine: Engine, sql: str, arguments: Any) -> Any:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        return connection.exec_driver_sql(sql, arguments).first()


def _fetch_one(engine: Engine, sql: str, arguments: Any) -> Any:
    """Run `sql` on a pooled DB-API connection and return its first row (or None)."""
    dialect = engine.dialect
    try:
        connection = engine.raw_connection()
    except dialect.loaded_dbapi.Error as error:  # the server is down or refuses connections
        raise exc.DBAPIError.instance(
            None, None, error, dialect.loaded_dbapi.Error, connection_invalidated=False, dialect=dialect
        ) from error
    try:
        return _fetch_on(engine, connection, sql, arguments)
    finally:
        connection.close()


def _fetch_on(engine: Engine, connection: PoolProxiedConnection, sql: str, arguments: Any) -> Any:
    dialect = engine.dialect
    driver = connection.driver_connection
    autocommit, lost = dialect.name == "postgresql", False
    cursor = connection.cursor()
    try:
        if autocommit:
            driver.autocommit = True  # type: ignore[union-attr]
        cursor.execute(sql, arguments)
        return cursor.fetchone()
    except dialect.loaded_dbapi.Error as error:
        lost = dialect.is_disconnect(error, driver, cursor)
        if lost:
            # As SQLAlchemy's Connection does on a disconnect: this connection is closed, and every
            # pooled connection opened before now is replaced on its next checkout (a restarted
            # server left them all dead). Pool._invalidate is the call it makes for this.
            engine.pool._invalidate(connection, error)
        raise exc.DBAPIError.instance(
            sql, arguments, error, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
        ) from error
    finally:
        if not lost:
            cursor.close()
            if autocommit:
                driver.autocommit = False  # type: ignore[union-attr]


@dataclass(frozen=True)
class _Compiled:
    statement: Any
    sql: str
    order: tuple[str, ...] | None  #: parameter names in placeholder order (positional drivers)
    labels: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]


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
