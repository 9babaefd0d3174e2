"""Shared fixtures: the app on SQLite or PostgreSQL (TEST_DATABASE_URL), clients, users, sandbox.

`make test` runs the suite once on SQLite and once on PostgreSQL. Each run (and each xdist
worker) gets its own database, created at the start and dropped at the end.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crm import create_app
from crm.email.sender import MEMORY_OUTBOX
from crm.extensions import db

pytest_plugins = ["tests.fixtures", "tests.stripe_fixtures"]


#: Set by tests/run.sh when it runs both passes ("sqlite" or "postgresql"): the pass this is.
#: Work that would be the same in both is then done in one of them (see `_once_in_two_passes`).
TEST_SPLIT = os.environ.get("CRM_TEST_SPLIT", "")


def _once_in_two_passes(item: pytest.Item) -> bool:
    """False for a test the other pass runs instead: an `own_postgres` test (it starts its own
    processes on PostgreSQL whatever the pass's database) runs in the PostgreSQL pass only, a
    `source_only` test (it reads the source tree, never a database) in the SQLite pass only."""
    if TEST_SPLIT == "sqlite" and item.get_closest_marker("own_postgres") is not None:
        return False
    if TEST_SPLIT == "postgresql" and item.get_closest_marker("source_only") is not None:
        if "database_url" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} is marked source_only but uses the database")
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak-sized cases run only when asked for by name (`make soak` passes -m soak); with both
    passes running, a test whose run would be the same in both runs in one of them."""
    soak = "soak" in (config.getoption("markexpr") or "")
    kept = [
        item
        for item in items
        if (soak or item.get_closest_marker("soak") is None) and _once_in_two_passes(item)
    ]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def _postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for this test session: a temporary SQLite file, or a new PG database."""
    base = _postgres_url()
    if not base:
        path = tmp_path_factory.mktemp("db") / "test.db"
        yield f"sqlite:///{path}"
        return
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"crm_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def _schema(database_url: str) -> str:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()
    return database_url


def _tables_with_rows(conn) -> set[str]:  # type: ignore[no-untyped-def]
    """One query: the names of the tables that hold at least one row."""
    probe = " UNION ALL ".join(
        f"SELECT '{table.name}' WHERE EXISTS (SELECT 1 FROM \"{table.name}\")"
        for table in db.metadata.sorted_tables
    )
    return set(conn.execute(text(probe)).scalars())


def _empty_all_tables() -> None:
    """Empty the tables a previous test filled. DELETE of the few non-empty tables, not TRUNCATE:
    on PostgreSQL a TRUNCATE of every table took ~0.7 s a test, DELETE takes ~10 ms."""
    with db.engine.begin() as conn:
        postgres = db.engine.dialect.name == "postgresql"
        if postgres:
            # A connection a previous test left "idle in transaction" (a thread, a leaked
            # session) would block the DELETE for ever: end it, and never wait long for a lock.
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state LIKE 'idle in transaction%'"
                )
            )
            conn.execute(text("SET LOCAL lock_timeout = '30s'"))
        filled = _tables_with_rows(conn)
        for table in reversed(db.metadata.sorted_tables):
            if table.name in filled:
                conn.execute(table.delete())
        if postgres:
            # What TRUNCATE ... RESTART IDENTITY did: ids start at 1 again (sequences are not
            # rolled back, so even an empty table's may have moved).
            conn.execute(text("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'"))


@pytest.fixture
def app_config() -> dict[str, object]:
    """Override in a test module to change settings for its app."""
    return {}


AppSetup = Callable[[Flask], None]


class _ReusableApp:
    """The app the previous test used, kept for the next test that asks for the same settings.

    Building an app costs more than most tests (its ~270 URL rules are compiled, its templates
    parsed): one app per worker and per set of settings, made as good as new before each test.
    What a test may change on it is put back: the config, everything a request or a test added to
    `app.extensions` (the caches, the Stripe clients), the containers registered at start-up, the
    rate-limit counters. Flask itself refuses a new route or hook on an app that has served a
    request, so a test cannot leave one behind. Any other app built in between (a test that calls
    `create_app` itself) re-binds the shared Flask-Limiter object (its storage, whether it is on), and the next test
    builds anew.
    """

    def __init__(self) -> None:
        self.key = ""
        self.app: Flask | None = None
        self.config: dict[str, object] = {}
        self.extensions: dict[str, object] = {}
        self.limiter: tuple[object, bool] | None = None

    def get(self, overrides: dict[str, object], setup: AppSetup | None, *, new: bool = False) -> Flask:
        from crm.extensions import limiter

        key = repr((sorted(overrides.items()), setup and f"{setup.__module__}.{setup.__qualname__}"))
        bound = (limiter.storage, limiter.enabled)
        if new or self.app is None or key != self.key or bound != self.limiter:
            self.app = create_app("testing", **overrides)
            if setup is not None:
                setup(self.app)
            # A `new_app` test may change the app in ways not put back: the next test builds anew.
            self.key = "" if new else key
            self.config = dict(self.app.config)
            self.extensions = {k: _copied(v) for k, v in self.app.extensions.items()}
            self.limiter = (limiter.storage, limiter.enabled)
            return self.app
        app = self.app
        app.config.clear()
        app.config.update(self.config)
        for name in [name for name in app.extensions if name not in self.extensions]:
            del app.extensions[name]
        for name, value in self.extensions.items():
            app.extensions[name] = _copied(value)
        if limiter.enabled:
            limiter.reset()
        return app


def _copied(value: object) -> object:
    """A fresh copy of a plain container (lists of registered steps, caches); extensions as they are."""
    return copy.copy(value) if type(value) in (list, dict, set) else value


_REUSABLE = _ReusableApp()


@pytest.fixture
def app_setup() -> AppSetup | None:
    """Override in a test module or folder to add test-only routes to its app when it is built
    (a module-level function: its name is part of which app is reused)."""
    return None


@pytest.fixture
def app(
    _schema: str, app_config: dict[str, object], app_setup: AppSetup | None, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    """The app; a test marked `new_app` (it adds a route or a hook itself) gets one of its own."""
    overrides = {"SQLALCHEMY_DATABASE_URI": _schema, "RATELIMIT_STORAGE_URI": "memory://"}
    overrides.update(app_config)
    new = request.node.get_closest_marker("new_app") is not None
    application = _REUSABLE.get(overrides, app_setup, new=new)
    MEMORY_OUTBOX.clear()  # outbox ids start again at 1 in every test
    with application.app_context():
        _empty_all_tables()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()
