"""Two app processes behind one address, as deployed: two real gunicorn processes (the deployment's
gunicorn.conf.py) on different ports, sharing one PostgreSQL database and one Redis, with two RQ
workers (`flask crm worker`) beside them. A browser talks to whichever process it is sent to.

They must behave as one service: a session started on one works on the other, signing out on one
ends it on both, the sign-in limit counts attempts on both together, and a job queued by a request
on one runs exactly once, in one worker.

The database is always a private PostgreSQL database (also in the SQLite pass of `make test`: this
is about processes, and several app processes share PostgreSQL, never a SQLite file), created and
dropped here. PostgreSQL or Redis missing: skipped, or failed with CRM_REQUIRE_POSTGRES=1 /
CRM_REQUIRE_REDIS=1 (CI).
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select

from crm import create_app
from crm.email.models import OutboxMessage
from crm.extensions import db
from tests.email.smtp_server import SMTPServer
from tests.fixtures import PASSWORD, make_user
from tests.reliability.conftest import (
    ROOT,
    AppProcess,
    app_environment,
    postgres_server,
    private_redis_db,
    start_gunicorn,
    start_process,
    stop_processes,
    wait_until_healthy,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.own_postgres]

SESSION_EMAIL = "two.apps@example.org"
ACCOUNTS = (SESSION_EMAIL, "limit.one@example.org", "limit.both@example.org", "reset@example.org")
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


@dataclass
class Browser:
    """One browser's cookie jar. The same cookies go to whichever process a request is sent to,
    as they would behind a load balancer (cookies are per host, not per port)."""

    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, url: str, form: dict[str, str] | None = None, referer: str | None = None
    ) -> Response:
        parts = urlsplit(url)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        if referer:  # what a browser sends on an https form post (CSRF's same-origin check reads it)
            headers["Referer"] = referer
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.request(method, parts.path or "/", body=body, headers=headers)
            raw = connection.getresponse()
            response = Response(raw.status, raw.msg, raw.read().decode(errors="replace"))
        finally:
            connection.close()
        for line in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(line).items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, url: str) -> Response:
        return self.request("GET", url)

    def csrf_token(self, page_url: str) -> str:
        """The CSRF token of the form on that page, as a browser would read it."""
        page = self.get(page_url)
        match = _TOKEN.search(page.text)
        assert page.status == 200 and match, f"no form on {page_url} ({page.status})"
        return match.group(1)

    def submit(self, page_url: str, action_url: str, fields: dict[str, str]) -> Response:
        """Open the page, then post its form (with the page's CSRF token) to `action_url`."""
        return self.request("POST", action_url, {"csrf_token": self.csrf_token(page_url), **fields})


@dataclass
class Service:
    a: AppProcess
    b: AppProcess
    workers: list[AppProcess]
    redis_url: str
    smtp: SMTPServer
    setup_app: Any


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    yield from private_redis_db("two-app-processes")


@pytest.fixture(scope="module")
def service(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A and B (gunicorn) and two RQ workers on a private PostgreSQL database, with a local SMTP server."""
    from tests.browser.live import postgres_database

    folder = tmp_path_factory.mktemp("two-apps")
    with postgres_database(postgres_server(), label="procs") as database_url, SMTPServer() as smtp:
        setup_app = create_app(
            "testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_STORAGE_URI="memory://"
        )
        with setup_app.app_context():
            db.create_all()
            for email in ACCOUNTS:
                make_user(email)
            db.session.remove()
            db.engine.dispose()
        env = app_environment(
            database_url,
            folder,
            REDIS_URL=redis_url,  # the rate limits and the job queue
            RATELIMIT_ENABLED="1",
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(smtp.port),
            MAIL_USE_TLS="0",
            BASE_URL="http://crm.test",
        )
        worker_command = [str(ROOT / ".venv/bin/python"), "-m", "flask", "--app", "wsgi", "crm", "worker"]
        processes = [
            start_gunicorn("A", env, folder),
            start_gunicorn("B", env, folder),
            *(start_process(f"worker{n}", worker_command, env, folder) for n in (1, 2)),
        ]
        try:
            a, b, *workers = processes
            wait_until_healthy([a, b])
            _wait_for_workers(redis_url, workers)
            yield Service(a, b, workers, redis_url, smtp, setup_app)
        finally:
            stop_processes(processes)
            with setup_app.app_context():
                db.engine.dispose()


def _worker_name(worker: AppProcess) -> str:
    return f"{socket.gethostname()}.{worker.process.pid}"  # as crm.jobs.worker names them


def _wait_for_workers(redis_url: str, workers: list[AppProcess], deadline: float = 60) -> None:
    """Both workers have registered in Redis: they are listening on the queue."""
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    wanted = {_worker_name(w) for w in workers}
    end = time.monotonic() + deadline
    while {w.name for w in Worker.all(connection=connection)} < wanted:
        for worker in workers:
            assert worker.process.poll() is None, worker.log()
        assert time.monotonic() < end, "the workers never registered\n" + "\n".join(w.log() for w in workers)
        time.sleep(0.2)
    connection.close()


def test_a_session_started_on_one_process_works_on_the_other_and_signing_out_on_either_ends_it(service):
    a, b = service.a, service.b
    browser = Browser()
    signed_in = browser.submit(
        a.url + "/login", a.url + "/login", {"email": SESSION_EMAIL, "password": PASSWORD}
    )
    assert signed_in.status == 302 and signed_in.location.endswith("/account"), signed_in.status

    account = browser.get(b.url + "/account")  # the load balancer sends the next request to B
    assert account.status == 200, (account.status, account.location)
    assert "Hello Ana" in account.text and SESSION_EMAIL in account.text
    assert browser.get(a.url + "/account").status == 200

    copied = Browser(cookies=dict(browser.cookies))  # the cookie as it was before signing out
    signed_out = browser.submit(b.url + "/account", b.url + "/logout", {})
    assert signed_out.status == 302, signed_out.status

    for app in (a, b):
        for who in (browser, copied):
            response = who.get(app.url + "/account")
            assert response.status == 302 and "/login" in response.location, (app.name, response.status)


def _failures_until_refused(apps: list[AppProcess], email: str) -> list[tuple[str, int]]:
    """Wrong passwords for one account, sent to each process in turn, until one is refused."""
    browser = Browser()
    token = browser.csrf_token(apps[0].url + "/login")  # one session: its token is good on both
    seen: list[tuple[str, int]] = []
    for n in range(12):
        app = apps[n % len(apps)]
        form = {"csrf_token": token, "email": email, "password": "not the password at all"}
        seen.append((app.name, browser.request("POST", app.url + "/login", form).status))
        if seen[-1][1] == 429:
            break
    return seen


def test_failed_sign_ins_alternating_between_the_processes_are_refused_after_the_same_count_as_on_one(
    service,
):
    on_one = _failures_until_refused([service.a], "limit.one@example.org")
    on_both = _failures_until_refused([service.a, service.b], "limit.both@example.org")

    assert [status for _, status in on_one] == [200] * 5 + [429], on_one  # the documented policy
    assert [status for _, status in on_both] == [status for _, status in on_one], on_both
    assert {name for name, _ in on_both} == {"A", "B"}


def test_a_job_queued_by_a_request_on_one_process_runs_exactly_once_in_one_worker(service):
    from redis import Redis
    from rq import Queue
    from rq.job import Job

    from crm.jobs.queue import QUEUE_NAME

    browser = Browser()
    page = browser.submit(
        service.a.url + "/password/reset", service.a.url + "/password/reset", {"email": "reset@example.org"}
    )
    assert page.status == 200, page.status

    connection = Redis.from_url(service.redis_url)
    queue = Queue(QUEUE_NAME, connection=connection)
    end = time.monotonic() + 30
    while not queue.finished_job_registry.get_job_ids() and time.monotonic() < end:
        time.sleep(0.1)
    time.sleep(1)  # room for a second run or a second email, if there were going to be one
    logs = "\n".join(p.log() for p in (service.a, *service.workers))

    finished = queue.finished_job_registry.get_job_ids()
    assert len(finished) == 1, (finished, logs)
    job = Job.fetch(finished[0], connection=connection)
    assert job.description == "crm.email.delivery.deliver_messages"
    assert job.worker_name in {_worker_name(w) for w in service.workers}  # a worker, not the app
    assert len(job.results()) == 1  # ran once
    assert queue.count == 0 and queue.failed_job_registry.count == 0 and queue.started_job_registry.count == 0

    sent = [m for m in service.smtp.handler.accepted if m["To"] == "reset@example.org"]
    assert len(sent) == 1, logs
    assert "/password/reset/" in sent[0].get_payload()[0].get_payload(decode=True).decode()
    with service.setup_app.app_context():
        message = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_email == "reset@example.org")
        ).one()
        assert (message.kind, message.status, message.attempts) == ("reset_password", "sent", 1)
        db.session.remove()
    connection.close()
