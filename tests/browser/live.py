"""The real app under a real HTTP server, with demo data and the Stripe sandbox beside it.

Used by the browser tests (one per test session) and by `python -m tests.browser.screenshots`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def sandbox_available() -> bool:
    try:
        from devtools.stripe_sandbox.server import serve_in_thread  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(repr=False)
class LiveApp:
    """A running app: `url` for the browser, `app` for reading rows in the test."""

    app: Flask
    url: str
    sandbox_url: str | None
    _server: BaseWSGIServer
    _thread: threading.Thread
    _sandbox: Any = None
    _cleanups: list[Any] = field(default_factory=list)

    def at(self, path: str) -> str:
        return self.url + path

    @contextlib.contextmanager
    def db(self) -> Iterator[Session]:
        """A database session in the app's context, for reading (or preparing) rows in a test."""
        from crm.extensions import db

        with self.app.app_context():
            try:
                yield db.session
            finally:
                db.session.remove()

    def stop(self) -> None:
        # The sandbox first, so that it has no webhook left to post to a stopped app.
        if self._sandbox is not None:
            with contextlib.suppress(Exception):
                self._sandbox.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        from crm.extensions import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        for cleanup in reversed(self._cleanups):
            cleanup()


@contextlib.contextmanager
def postgres_database(base_url: str, label: str = "browser") -> Iterator[str]:
    """A new, empty PostgreSQL database for this run, dropped afterwards."""
    url = make_url(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"crm_{label}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
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


def _load_demo_quickly(load_demo: Any) -> None:
    """The demo gives ten accounts one password: hash it once, not ten times (argon2 is slow)."""
    import crm.demo

    original = crm.demo.hash_password
    crm.demo.hash_password = functools.lru_cache(maxsize=4)(original)
    try:
        load_demo()
    finally:
        crm.demo.hash_password = original


def start_live_app(database_url: str, **overrides: Any) -> LiveApp:
    """Create the schema, load the demo data and serve the app (and the sandbox) on free ports."""
    from crm import create_app
    from crm.demo import load_demo
    from crm.extensions import db
    from crm.staff.search import ensure_search_indexes

    port = free_port()
    url = f"http://{HOST}:{port}"
    with_sandbox = sandbox_available()
    sandbox_port = free_port() if with_sandbox else None
    sandbox_url = f"http://{HOST}:{sandbox_port}" if with_sandbox else None
    settings: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "BASE_URL": url,
        "WTF_CSRF_ENABLED": True,
        # The journeys sign in many times from one address; rate limits have their own tests.
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    if sandbox_url:
        settings["STRIPE_API_BASE"] = sandbox_url
    settings.update(overrides)
    app = create_app("testing", **settings)
    with app.app_context():
        db.create_all()
        ensure_search_indexes(db.engine)  # what the migrations make in production
        _load_demo_quickly(load_demo)
        db.session.remove()

    sandbox = None
    if with_sandbox:
        from devtools.stripe_sandbox.server import serve_in_thread

        sandbox = serve_in_thread(
            host=HOST,
            port=sandbox_port,
            webhook_url=f"{url}/stripe/webhook",
            webhook_secret=app.config["STRIPE_WEBHOOK_SECRET"],
            delivery="auto",
        )

    server = make_server(HOST, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
    thread.start()
    return LiveApp(
        app=app, url=url, sandbox_url=sandbox_url, _server=server, _thread=thread, _sandbox=sandbox
    )
