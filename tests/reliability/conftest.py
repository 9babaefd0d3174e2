"""Nothing lost, nothing doubled: helpers to join members through the sandbox, count rows, and run
the app as real processes (gunicorn with the deployment's gunicorn.conf.py) beside the test."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess  # noqa: S404  (fixed argument lists, no shell)
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.redis_db import RELIABILITY_MAX_DB

ROOT = Path(__file__).resolve().parents[2]
#: The server `make test` uses for its PostgreSQL pass (tests/run.sh reads the same variable).
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def count(model: Any, *where: Any) -> int:
    db.session.commit()  # end this thread's read snapshot: see what other threads committed
    found = db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    db.session.commit()  # and hold no lock open afterwards
    return found


def join_and_pay(
    client: FlaskClient, plans: dict[str, Any], sandbox: Any, email: str, plan: str = "standard-yearly"
) -> tuple[int, str]:
    """POST /join, then press Pay in the sandbox; the webhooks wait in its queue."""
    response = client.post("/join", data=form(plans, email=email, plan=str(plans[plan].id)))
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    membership = db.session.scalar(
        select(Membership).join(Contact, Contact.id == Membership.contact_id).where(Contact.email == email)
    )
    sandbox.pay(membership.stripe_checkout_session_id)
    return membership.id, membership.stripe_checkout_session_id


# --- services the multi-process tests need ---------------------------------------------------------


def _required(service: str, flag: str, reason: str) -> None:
    """Skip when a service is missing, but fail when the run says it is required (CI)."""
    if os.environ.get(flag) == "1":
        pytest.fail(f"{service} is required ({flag}=1) but not reachable: {reason}")
    pytest.skip(f"{service} not reachable: {reason}")


def postgres_server() -> str:
    """The PostgreSQL server of this run: TEST_DATABASE_URL when it is PostgreSQL, else the one
    `make test` uses for its PostgreSQL pass. Unreachable: skip, or fail with CRM_REQUIRE_POSTGRES=1."""
    import psycopg

    given = os.environ.get("TEST_DATABASE_URL") or ""
    url = (
        given if given.startswith("postgresql") else os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    try:
        psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), connect_timeout=3).close()
    except psycopg.Error as error:
        _required("PostgreSQL", "CRM_REQUIRE_POSTGRES", str(error))
    return url


def private_redis_db(owner: str) -> Iterator[str]:
    """An empty Redis database of our own on the test Redis server (TEST_REDIS_URL's host, else the
    local one), emptied afterwards. Databases above 9 are the workers' own (tests/redis_db.py); among 1-9 we take the
    highest empty one and claim it with a key (test_worker_killed.py takes the lowest the same way),
    so parallel xdist workers never share one. Unreachable: skip, or fail with CRM_REQUIRE_REDIS=1."""
    import redis

    server = urlsplit(os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379")
    for number in range(RELIABILITY_MAX_DB, 0, -1):
        connection = redis.Redis.from_url(f"redis://{server.netloc}/{number}", socket_connect_timeout=2)
        try:
            if connection.dbsize() == 0 and connection.set(f"crm-test:{owner}", "1", nx=True, ex=900):
                break
        except redis.RedisError as error:
            _required("Redis", "CRM_REQUIRE_REDIS", str(error))
        connection.close()
    else:
        pytest.fail(f"no empty Redis database among 1-{RELIABILITY_MAX_DB} for this test")
    try:
        yield f"redis://{server.netloc}/{number}"
    finally:
        connection.flushdb()
        connection.close()


# --- real app processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AppProcess:
    """One `gunicorn -c gunicorn.conf.py <app>` (or any command) started by a test, with its log."""

    name: str
    process: subprocess.Popen
    log_path: Path
    url: str = ""

    def log(self, chars: int = 4000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} log (end) ---\n{text[-chars:]}"


def start_process(
    name: str, command: list[str], env: dict[str, str], folder: Path, url: str = ""
) -> AppProcess:
    """Start `command` in its own process group (so stopping it also stops the workers it forks)."""
    log_path = folder / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return AppProcess(name, process, log_path, url)


def start_gunicorn(name: str, env: dict[str, str], folder: Path, app: str = "wsgi:app") -> AppProcess:
    """gunicorn with the deployment's settings file, one worker, on a free loopback port."""
    port = free_port()
    settings = {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1", **env}
    # No control socket: every gunicorn would share one default path (~/.gunicorn/gunicorn.ctl).
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--no-control-socket",
        app,
    ]
    return start_process(name, command, settings, folder, url=f"http://127.0.0.1:{port}")


def wait_until_healthy(processes: list[AppProcess], deadline: float = 120.0) -> None:
    """Each app process answers GET /healthz with 200 (a died or silent one fails with its log)."""
    end = time.monotonic() + deadline
    for app in processes:
        while True:
            if app.process.poll() is not None:
                raise AssertionError(f"{app.name} exited with {app.process.returncode}\n{app.log()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(app.url + "/healthz", timeout=5) as response:  # noqa: S310
                    if response.status == 200:
                        break
            if time.monotonic() > end:
                raise AssertionError(f"{app.name} did not answer /healthz in {deadline:.0f} s\n{app.log()}")
            time.sleep(0.2)


def stop_processes(processes: list[AppProcess], timeout: float = 20.0) -> None:
    """SIGTERM each process group (gunicorn and RQ shut down cleanly), SIGKILL what is left."""
    for app in processes:
        if app.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(app.process.pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    for app in processes:
        try:
            app.process.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        # The group too: a worker whose master was killed must not outlive the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(app.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            app.process.wait(timeout=5)


@contextlib.contextmanager
def running(processes: list[AppProcess]) -> Iterator[list[AppProcess]]:
    try:
        yield processes
    finally:
        stop_processes(processes)


def app_environment(database_url: str, folder: Path, **settings: str) -> dict[str, str]:
    """The environment of a deployed app process (development config: no production secrets)."""
    return {
        "CRM_ENV": "development",
        "CRM_INSTANCE_PATH": str(folder),
        "SECRET_KEY": "two-processes-share-this-secret-key-0123456789",
        "DATABASE_URL": database_url,
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # refuses connections: no test reaches Stripe
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "REDIS_URL": "",
        "RATELIMIT_ENABLED": "0",
        "MAIL_SERVER": "",
        "GUNICORN_THREADS": "4",
        **settings,
    }
