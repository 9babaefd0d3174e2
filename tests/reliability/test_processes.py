"""Process-level faults, with real processes on loopback: a gunicorn worker SIGKILLed mid-webhook,
a PostgreSQL restart (a private throwaway cluster, never the shared server), Redis killed, and an
SMTP server down then up. Two app processes sharing PostgreSQL and Redis: test_two_app_processes.py.

Every process is started on a free port, waited for with a deadline and killed in `finally`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess  # noqa: S404  (fixed argument lists, no shell)
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm import create_app
from crm.billing.models import Payment, ProcessedStripeEvent
from crm.extensions import db
from tests.fixtures import PASSWORD, make_user, sign_in_as
from tests.reliability.conftest import join_and_pay
from tests.stripe_fixtures import signed_headers

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Seconds a started process gets to listen or a killed worker to come back: generous, so that
#: only a hang exceeds it on a loaded machine (a process that exits fails at once instead).
START_DEADLINE = 120.0


def wait_for_port(
    port: int, process: subprocess.Popen | None = None, deadline: float = START_DEADLINE
) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
            raise RuntimeError(f"the process for port {port} exited ({process.returncode}): {stderr}")
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port} after {deadline:.0f} s")


def http(
    method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int = 1) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "60",
            "--graceful-timeout",
            "2",
            "--no-control-socket",
            "wsgi:app",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _app_env(database_url: str, sandbox_url: str, tmp: Path) -> dict[str, str]:
    return {
        "CRM_ENV": "development",
        "CRM_INSTANCE_PATH": str(tmp),
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": database_url,
        "STRIPE_API_BASE": sandbox_url,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "RATELIMIT_ENABLED": "0",
        "REDIS_URL": "",
        "PYTHONPATH": str(ROOT),
    }


# --- R6: a worker SIGKILLed after the first INSERT ----------------------------------------------


def test_a_worker_killed_mid_webhook_leaves_nothing_and_the_redelivery_completes_once(
    app, plans, stripe_sandbox, stripe_sandbox_server, tmp_path
):
    join_and_pay(app.test_client(), plans, stripe_sandbox, "killed@example.org")
    events = [e for e in stripe_sandbox.take_events() if e["type"] == "checkout.session.completed"]
    pause_file = tmp_path / "pause-once"
    env = _app_env(app.config["SQLALCHEMY_DATABASE_URI"], stripe_sandbox_server.url, tmp_path)
    env.update(CRM_FAULT_PAUSE_FILE=str(pause_file), CRM_FAULT_PAUSE_SECONDS="30")
    from devtools.stripe_sandbox.webhooks import event_payload

    body = event_payload(events[0]).encode()
    with gunicorn(env) as (base, master):
        pause_file.write_text("pause")
        import threading

        outcome: dict = {}

        def deliver() -> None:
            try:
                outcome["status"] = http(
                    "POST", base + "/stripe/webhook", body, signed_headers(body, "whsec_sandbox"), timeout=40
                )[0]
            except Exception as error:  # noqa: BLE001  (the connection dies with the worker)
                outcome["error"] = error

        thread = threading.Thread(target=deliver)
        thread.start()
        end = time.monotonic() + START_DEADLINE  # the worker boots, then takes the request
        while pause_file.exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert not pause_file.exists(), "the worker never reached the pause"
        time.sleep(0.3)  # the INSERT is flushed, not committed
        for worker in _children(master.pid):
            os.kill(worker, signal.SIGKILL)
        thread.join(timeout=30)
        assert "status" not in outcome or outcome["status"] >= 500
        db.session.commit()
        assert db.session.scalar(select(func.count(ProcessedStripeEvent.id))) == 0  # rolled back
        assert db.session.scalar(select(func.count(Payment.id))) == 0
        wait_for_port(int(base.rsplit(":", 1)[1]))
        deadline = time.monotonic() + START_DEADLINE
        status = 0
        while time.monotonic() < deadline and status != 200:  # the master restarts the worker
            with contextlib.suppress(OSError):
                status = http("POST", base + "/stripe/webhook", body, signed_headers(body, "whsec_sandbox"))[
                    0
                ]
            time.sleep(0.2)
        assert status == 200
        assert http("POST", base + "/stripe/webhook", body, signed_headers(body, "whsec_sandbox"))[0] == 200
    db.session.commit()
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    assert db.session.scalar(select(func.count(ProcessedStripeEvent.id))) == 1


# --- R7: PostgreSQL restarted (a private cluster) ----------------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, callable]]:
    """A throwaway PostgreSQL cluster on a free port, run as the postgres OS user."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries or not shutil.which("runuser") or os.geteuid() != 0:
        pytest.skip("needs root, runuser and PostgreSQL server binaries")
    bindir = Path(binaries[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()

    def as_postgres(*args: str, timeout: float = 60) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            timeout=timeout,  # noqa: S603,S607
            capture_output=True,
        )

    def pg_ctl(action: str) -> None:
        extra = ["-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"]
        as_postgres(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-w",
            "-t",
            "30",
            *(["-m", "immediate"] if action == "stop" else extra),
            action,
        )

    as_postgres(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    pg_ctl("start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", pg_ctl
    finally:
        with contextlib.suppress(Exception):
            pg_ctl("stop")
        shutil.rmtree(folder, ignore_errors=True)


def _outage_app(url: str):  # type: ignore[no-untyped-def]
    # No per-process page caches (as in a worker started during the outage): every page, and the
    # error page's menu, needs the database.
    return create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=url.replace("postgresql://", "postgresql+psycopg://"),
        RATELIMIT_STORAGE_URI="memory://",
        NEWS_CACHE_SECONDS=0,
        NAV_CACHE_SECONDS=0,
    )


@contextlib.contextmanager
def _member_on_private_postgres(url: str, email: str) -> Iterator[FlaskClient]:
    """A signed-in member's client on an app over the private cluster, cleaned up after."""
    pg_app = _outage_app(url)
    with pg_app.app_context():
        db.create_all()
        try:
            yield sign_in_as(pg_app.test_client(), make_user(email))
        finally:
            db.session.remove()
            db.engine.dispose()


def test_postgres_restart_gives_fast_503s_then_recovers_without_restarting_the_app(private_postgres):
    url, pg_ctl = private_postgres
    pg_app = _outage_app(url)
    with pg_app.app_context():
        db.create_all()
        client = pg_app.test_client()
        member = sign_in_as(pg_app.test_client(), make_user("outage@example.org"))
        assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
        assert client.get("/news").status_code == 200 and member.get("/account").status_code == 200
        pg_ctl("stop")
        for who, path in ((client, "/healthz"), (client, "/news"), (client, "/join"), (member, "/account")):
            started = time.monotonic()
            response = who.get(path)
            assert time.monotonic() - started < 8, path  # fails fast, never hangs
            assert response.status_code == 503, (path, response.status_code)
            page = response.get_data(as_text=True)
            assert "Traceback" not in page
            assert path == "/healthz" or "The service is briefly unavailable" in page, page[:300]
        assert client.get("/healthz").get_json()["database"] == "error"
        pg_ctl("start")
        assert client.get("/healthz").status_code == 200  # the failed connections were dropped: no restart
        assert client.get("/news").status_code == 200
        db.session.remove()
        db.engine.dispose()


def test_a_quiet_restart_is_caught_by_the_idle_ping_and_no_request_fails(private_postgres, monkeypatch):
    """Pooled connections are pinged only after sitting idle (not on every checkout): a restart
    while the site was quiet costs no visitor an error page."""
    from crm.core import database

    url, pg_ctl = private_postgres
    with _member_on_private_postgres(url, "quiet@example.org") as member:
        assert member.get("/news").status_code == 200 and member.get("/account").status_code == 200
        db.session.remove()  # every connection is back in the pool, as between two requests
        pg_ctl("stop")
        pg_ctl("start")  # every pooled connection is now dead, and nothing has noticed yet
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)  # they all sat idle long enough
        assert [member.get(path).status_code for path in ("/news", "/account", "/news")] == [200, 200, 200]


def test_a_connection_in_steady_use_is_not_pinged_and_a_dead_one_costs_one_request(
    private_postgres, monkeypatch
):
    """The other side of the trade: while connections are in steady use they are not pinged, so a
    restart in that moment fails the one request that meets a dead connection; the pool then drops
    every connection from before the restart and the next requests work."""
    from crm.core import database

    url, pg_ctl = private_postgres
    with _member_on_private_postgres(url, "steady@example.org") as member:
        pings: list[object] = []
        dialect = db.engine.dialect
        real_ping = dialect.do_ping
        monkeypatch.setattr(dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn))
        for _ in range(5):
            assert member.get("/news").status_code == 200
        assert pings == []  # in steady use: no round trip spent on pings
        db.session.remove()
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)
        pg_ctl("stop")
        pg_ctl("start")
        first, *rest = [member.get("/news").status_code for _ in range(3)]
        assert first in (200, 503) and rest == [200, 200], (first, rest)


# --- R10: Redis down -------------------------------------------------------------------------------


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen]]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603,S607
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.kill()
        process.wait(timeout=5)


def test_with_redis_killed_sign_in_still_works_and_jobs_fall_back(app, private_redis, caplog):
    redis_url, process = private_redis
    make_user("redisdown@example.org")
    instance = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        RATELIMIT_STORAGE_URI=redis_url,
        REDIS_URL=redis_url,
        WTF_CSRF_ENABLED=False,
    )
    client = instance.test_client()
    form = {"email": "redisdown@example.org", "password": "wrong password!!"}
    assert client.post("/login", data=form).status_code == 200
    process.kill()
    process.wait(timeout=5)
    caplog.set_level("WARNING")
    try:
        # The limiter falls back to per-process memory (still limiting), and says so in the log.
        assert client.post("/login", data=form).status_code == 200
        assert client.post("/login", data={**form, "password": PASSWORD}).status_code == 302
        assert "falling back to in-memory storage" in caplog.text
        statuses = [client.post("/login", data=form).status_code for _ in range(6)]
        assert statuses[-1] == 429, statuses
        with instance.app_context():
            from crm.jobs.queue import try_enqueue

            assert try_enqueue("crm.email.delivery.deliver_messages", []) is None  # the caller goes inline
        assert "not queued" in caplog.text
    finally:
        from crm.extensions import limiter

        limiter._storage_dead = False  # the extension object is shared by every app in this process


# --- SMTP down, then up ---------------------------------------------------------------------------


def test_mail_waits_while_smtp_is_down_and_goes_once_when_it_is_back(app):
    from crm.email.delivery import deliver_due
    from crm.email.models import OutboxMessage
    from crm.email.services import queue_email
    from tests.email.smtp_server import SMTPServer
    from tests.email.smtp_server import free_port as smtp_port

    port = smtp_port()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, MAIL_USERNAME=None)
    user = make_user("smtp@example.org")
    queue_email(
        user.email,
        "password_changed",
        {"first_name": "Ana", "reset_url": "http://crm.test/x"},
        contact_id=user.contact_id,
        dedupe_key="smtp-down-up",
    )
    db.session.commit()
    totals = deliver_due(now=None)
    db.session.commit()
    message = db.session.scalars(select(OutboxMessage)).one()
    assert totals["sent"] == 0 and message.status != "sent"
    server = SMTPServer()
    server.port = port
    from aiosmtpd.controller import Controller

    server.controller = Controller(server.handler, hostname="127.0.0.1", port=port)
    with server:
        from datetime import timedelta

        from crm.core.types import utcnow

        for _ in range(3):
            deliver_due(now=utcnow() + timedelta(hours=2))
            db.session.commit()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status == "sent"
    assert len(server.handler.accepted) == 1
