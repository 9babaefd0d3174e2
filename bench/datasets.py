"""Benchmark databases: SQLite temp files and PostgreSQL databases named crm_bench_*, made here and
dropped at the end. Schema by `db.create_all()` plus the search indexes, data by the project's own
`seed-bench` generator (devtools.seed), cached per (database, size) for the run."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import log, stopwatch

PG_PREFIX = "crm_bench_"
#: Stripe calls from benchmark apps go nowhere unless a benchmark points them at its own sandbox.
UNREACHABLE_STRIPE = "http://127.0.0.1:9"
#: Building the data (the bulk load, the search indexes) is a one-off job like `flask db upgrade`:
#: no statement timeout (README: DATABASE_STATEMENT_TIMEOUT=0). On a loaded machine the trigram
#: index over 100,000 contacts took longer than the 10 s pages get, and every PostgreSQL row was n/a.
BUILD = {"DATABASE_STATEMENT_TIMEOUT": 0}


def make_app(url: str, **overrides: Any) -> Flask:
    """The real app (development settings, as `make run` serves it) on the database at `url`."""
    from crm import create_app

    settings: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "memory://", "STRIPE_API_BASE": UNREACHABLE_STRIPE,
        "STRIPE_MAX_NETWORK_RETRIES": 0, "REDIS_URL": None, "MAIL_SERVER": None,
    }  # fmt: skip
    settings.update(overrides)
    return create_app("development", **settings)


def ensure_search_indexes() -> str:
    """The staff search index (trigram GIN / FTS5); returns a note when the feature is missing."""
    from crm.extensions import db

    try:
        from crm.staff.search import ensure_search_indexes as ensure
    except ImportError:
        return "no crm.staff.search.ensure_search_indexes"
    ensure(db.engine)
    return ""


class Databases:
    """Every database this run makes, so that all of them go at the end."""

    def __init__(self, pg_url: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="crm-bench-"))
        self.pg_url = make_url(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.pg_names: list[str] = []
        self.run_id = uuid.uuid4().hex[:6]
        self._seeded: dict[tuple[str, int], str] = {}
        self._pg_ok: bool | None = None

    # --- making and dropping -------------------------------------------------------------------

    def postgres_available(self) -> bool:
        if self._pg_ok is None:
            try:
                engine = create_engine(self.pg_url.set(database="postgres"))
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                engine.dispose()
                self._pg_ok = True
            except Exception as error:  # noqa: BLE001  (any failure means: skip PostgreSQL)
                log(f"PostgreSQL not reachable ({type(error).__name__}); PostgreSQL benchmarks are n/a")
                self._pg_ok = False
        return self._pg_ok

    def _admin(self) -> Any:
        return create_engine(self.pg_url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def new_url(self, backend: str, label: str, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`, another URL from this object)."""
        name = f"{label}_{self.run_id}_{uuid.uuid4().hex[:4]}"
        if backend == "sqlite":
            path = self.workdir / f"{name}.db"
            if template:
                source = sqlite3.connect(make_url(template).database)
                target = sqlite3.connect(path)
                source.backup(target)
                source.close()
                target.close()
            return f"sqlite:///{path}"
        db_name = PG_PREFIX + name
        admin = self._admin()
        with admin.connect() as conn:
            if template:
                source = make_url(template).database
                self._disconnect(conn, source)
                conn.execute(text(f'CREATE DATABASE "{db_name}" TEMPLATE "{source}"'))
            else:
                conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        admin.dispose()
        self.pg_names.append(db_name)
        return self.pg_url.set(database=db_name).render_as_string(hide_password=False)

    @staticmethod
    def _disconnect(conn: Any, name: str) -> None:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )

    def drop(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
            return
        admin = self._admin()
        with admin.connect() as conn:
            self._disconnect(conn, parsed.database)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        admin.dispose()
        if parsed.database in self.pg_names:
            self.pg_names.remove(parsed.database)
        self._seeded = {k: v for k, v in self._seeded.items() if v != url}

    def drop_all(self) -> None:
        for name in list(self.pg_names):
            try:
                self.drop(self.pg_url.set(database=name).render_as_string(hide_password=False))
            except Exception as error:  # noqa: BLE001
                log(f"could not drop {name}: {error}")
        for path in self.workdir.glob("*"):
            path.unlink(missing_ok=True)
        self.workdir.rmdir()

    # --- content -------------------------------------------------------------------------------

    def schema(self, backend: str, label: str, *, plans: bool = True) -> str:
        """A new database with every table, the search indexes and (by default) the demo data."""
        from crm.extensions import db

        url = self.new_url(backend, label)
        app = make_app(url, **BUILD)
        with app.app_context():
            db.create_all()
            if plans:
                from crm.demo import load_demo

                load_demo()
            ensure_search_indexes()
            db.session.remove()
            db.engine.dispose()
        return url

    def seeded(self, backend: str, contacts: int) -> str:
        """A database holding `contacts` seeded contacts and 1,000 posts (made once per run)."""
        key = (backend, contacts)
        if key in self._seeded:
            return self._seeded[key]
        from crm.extensions import db
        from devtools.seed import seed

        url = self.new_url(backend, f"seed{contacts}")
        app = make_app(url, **BUILD)
        with app.app_context(), stopwatch() as took:
            db.create_all()
            counts = seed(contacts)
            note = ensure_search_indexes()  # after the bulk load: one index build, not a trigger per row
            db.session.remove()
            if backend == "postgresql":
                # What autovacuum does soon after a bulk load (PostgreSQL 13+ vacuums after inserts
                # too): statistics, and the visibility map that lets an index-only scan skip the table.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE"))
            db.engine.dispose()
        log(f"seeded {backend} with {counts['contacts']:,} contacts in {took():.1f}s {note}")
        self._seeded[key] = url
        return url

    def copy(self, backend: str, url: str, label: str) -> str:
        return self.new_url(backend, label, template=url)
