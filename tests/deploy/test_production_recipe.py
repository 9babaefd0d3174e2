"""The deployment recipe, run: the production configuration started exactly as docs/deploy.md,
the Dockerfile, compose.yaml and the systemd units start it (`deploy/run migrate|web|worker|daily`),
with PostgreSQL, Redis, an SMTP server that insists on STARTTLS, and Stripe (the sandbox, over TLS)
on loopback. Two app processes sit behind one address (a round-robin proxy that sets
X-Forwarded-For, as Caddy does), and a supporter joins and pays through them: every request of the
join alternates between the processes, so nothing may depend on process-local state.

Always on PostgreSQL (production refuses SQLite), in both passes of `make test`. PostgreSQL or
Redis missing: skipped, or failed with CRM_REQUIRE_POSTGRES=1 / CRM_REQUIRE_REDIS=1 (CI).
"""

from __future__ import annotations

import http.client
import http.server
import itertools
import ssl
import subprocess  # noqa: S404  (fixed argument lists, no shell)
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from crm import create_app
from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership, Plan
from devtools.stripe_sandbox.server import SandboxServer, serve_in_thread
from tests.email.smtp_server import ScriptedHandler
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans
from tests.reliability.conftest import (
    ROOT,
    AppProcess,
    free_port,
    postgres_server,
    private_redis_db,
    start_process,
    stop_processes,
    wait_until_healthy,
)
from tests.reliability.test_two_app_processes import Browser

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.own_postgres]

STRIPE_SECRET = "sk_live_smoke_test_not_a_real_key"  # noqa: S105  (the sandbox accepts any key it is given)
WEBHOOK_SECRET = "whsec_smoke_test_not_a_real_secret"  # noqa: S105
EMAIL = "smoke.joiner@example.org"


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, trusted by the app processes for Stripe and SMTP alone."""
    cert, key = folder / "loopback.pem", folder / "loopback.key"
    subprocess.run(  # noqa: S603
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class _RoundRobinProxy(http.server.ThreadingHTTPServer):
    """One address in front of the app processes: each request goes to the next one in turn."""

    daemon_threads = True

    def __init__(self, backends: list[AppProcess]) -> None:
        self.backends = backends  # filled in once the processes are started
        self.turn = itertools.count()
        self.served: Counter[str] = Counter()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def next_backend(self) -> AppProcess:
        with self.lock:
            backend = self.backends[next(self.turn) % len(self.backends)]
            self.served[backend.name] += 1
            return backend


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _RoundRobinProxy

    def log_message(self, *args: Any) -> None:  # the test prints the app logs on failure instead
        pass

    def _forward(self) -> None:
        backend = urlsplit(self.server.next_backend().url)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in {"connection", "x-forwarded-for"}
        }
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Proto"] = "https"
        connection = http.client.HTTPConnection(backend.hostname, backend.port, timeout=30)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
        finally:
            connection.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in {"connection", "transfer-encoding", "content-length"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _forward  # noqa: N815  (http.server's method names)


@dataclass
class Deployment:
    url: str
    base_url: str
    proxy: _RoundRobinProxy
    apps: list[AppProcess]
    worker: AppProcess
    sandbox: SandboxServer
    smtp: ScriptedHandler
    env: dict[str, str]
    setup_app: Any
    folder: Path

    def run(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`deploy/run <command>` with the deployment's environment, as systemd or compose runs it."""
        result = subprocess.run(  # noqa: S603
            [str(ROOT / "deploy/run"), *command],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"deploy/run {' '.join(command)}:\n{result.stdout}\n{result.stderr}"
        return result


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    import os

    from tests.browser.live import postgres_database

    folder = tmp_path_factory.mktemp("deploy")
    cert, key = _self_signed_certificate(folder)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    smtp = ScriptedHandler()
    smtp_port = free_port()
    controller = Controller(
        smtp, hostname="127.0.0.1", port=smtp_port, tls_context=server_tls, require_starttls=True
    )
    redis_owner = private_redis_db("production-recipe")
    redis_url = next(redis_owner)
    apps: list[AppProcess] = []
    proxy = _RoundRobinProxy(apps)
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    threading.Thread(target=proxy.serve_forever, name="proxy", daemon=True).start()
    sandbox = serve_in_thread(
        webhook_url=f"{proxy_url}/stripe/webhook",
        webhook_secret=WEBHOOK_SECRET,
        secret_key=STRIPE_SECRET,
        ssl_context=(str(cert), str(key)),
    )
    processes: list[AppProcess] = []
    controller.start()
    try:
        with postgres_database(postgres_server(), label="deploy") as database_url:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "STRIPE_", "MAIL_"))},
                "PYTHONPATH": str(ROOT),
                "CRM_PYTHON": str(ROOT / ".venv/bin/python"),
                "CRM_ENV": "production",
                "CRM_INSTANCE_PATH": str(folder),
                "SECRET_KEY": "smoke-test-secret-key-0123456789abcdef-0123456789",
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "BASE_URL": "https://members.smoke.test",
                "PROXY_COUNT": "1",
                "STRIPE_SECRET_KEY": STRIPE_SECRET,
                "STRIPE_PUBLISHABLE_KEY": "pk_live_smoke_test",
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "STRIPE_API_BASE": sandbox.url,
                "STRIPE_CA_BUNDLE": str(cert),
                "SSL_CERT_FILE": str(cert),  # the SMTP server's certificate, for the app's STARTTLS
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": str(smtp_port),
                "MAIL_USE_TLS": "1",
                "MAIL_DEFAULT_SENDER": "membership@smoke.test",
                "ORG_NAME": "Smoke Test Solidarity Group",
                "ORG_ADDRESS": "1 Test Lane, Testville TE1 1ST",
                "ORG_CHARITY_NUMBER": "7654321",
                "GUNICORN_WORKERS": "1",
                "GUNICORN_THREADS": "4",
            }
            deployment = Deployment(
                proxy_url,
                env["BASE_URL"],
                proxy,
                apps,
                None,
                sandbox,
                smtp,
                env,
                None,
                folder,  # type: ignore[arg-type]
            )
            deployment.run("migrate")
            # Plans are staff data: made here, then synced to Stripe by the recipe's command.
            setup_app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
            with setup_app.app_context():
                make_plans()
                db.session.commit()
                db.session.remove()
            deployment.setup_app = setup_app
            subprocess.run(  # noqa: S603
                [env["CRM_PYTHON"], "-m", "flask", "--app", "wsgi", "crm", "stripe-sync-plans"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                timeout=120,
            )
            for name in ("web1", "web2"):
                port = free_port()
                web = start_process(
                    name,
                    [str(ROOT / "deploy/run"), "web"],
                    {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
                    folder,
                    url=f"http://127.0.0.1:{port}",
                )
                apps.append(web)
                processes.append(web)
            deployment.worker = start_process("worker", [str(ROOT / "deploy/run"), "worker"], env, folder)
            processes.append(deployment.worker)
            wait_until_healthy(apps)
            yield deployment
    finally:
        stop_processes(processes)
        proxy.shutdown()
        sandbox.stop()
        controller.stop()
        next(redis_owner, None)


def _wait_for(condition: Any, what: str, logs: Any, deadline: float = 60) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen in {deadline:.0f} s\n{logs()}")


def test_a_supporter_joins_and_pays_through_two_production_processes_behind_one_address(deployment):
    logs = lambda: "\n".join(p.log() for p in (*deployment.apps, deployment.worker))  # noqa: E731
    browser = Browser()
    with deployment.setup_app.app_context():
        plans = {plan.slug: plan for plan in db.session.scalars(select(Plan))}
        fields = form(plans, email=EMAIL, plan=str(plans["standard-yearly"].id))
        db.session.remove()

    # The form is read from one process and posted to the other: its CSRF token must hold on both.
    fields["csrf_token"] = browser.csrf_token(deployment.url + "/join")
    answer = browser.request(
        "POST",
        deployment.url + "/join",
        fields,
        referer=deployment.url.replace("http://", "https://") + "/join",
    )
    assert answer.status == 303, (answer.status, answer.text[:2000], logs())
    checkout = urlsplit(answer.location)
    assert f"{checkout.scheme}://{checkout.netloc}" == deployment.sandbox.url, answer.location
    session_id = checkout.path.rsplit("/", 1)[-1]

    # The supporter presses Pay on the (sandbox's) hosted page, over TLS.
    tls = ssl.create_default_context(cafile=str(deployment.folder / "loopback.pem"))
    connection = http.client.HTTPSConnection(checkout.hostname, checkout.port, context=tls, timeout=30)
    connection.request("POST", f"/checkout/{session_id}/pay")
    paid = connection.getresponse()
    paid.read()
    connection.close()
    assert paid.status in (302, 303), paid.status

    def active_membership() -> Membership | None:
        with deployment.setup_app.app_context():
            found = db.session.scalar(
                select(Membership)
                .join(Contact, Contact.id == Membership.contact_id)
                .where(Contact.email == EMAIL, Membership.status == "active")
            )
            db.session.remove()
            return found

    _wait_for(active_membership, "the webhook making the supporter a member", logs)
    mail = _wait_for(
        lambda: (
            (found := [m for m in deployment.smtp.accepted if m["To"] == EMAIL]) and len(found) >= 2 and found
        ),
        "the welcome and receipt emails reaching the SMTP server (through the worker, over STARTTLS)",
        logs,
    )
    time.sleep(1)  # room for a doubled message, if there were going to be one
    subjects = sorted(str(m["Subject"]) for m in deployment.smtp.accepted if m["To"] == EMAIL)
    assert [s.split(" ")[0] for s in subjects] == ["Welcome", "Your"], subjects
    assert len(mail) == 2

    # The success page answers on whichever process it reaches, and both processes served the join.
    success = browser.get(deployment.url + f"/join/success?session_id={session_id}")
    assert success.status in (200, 302, 303), success.status
    assert deployment.proxy.served["web1"] > 0 and deployment.proxy.served["web2"] > 0

    # The daily run, as the timer or the scheduler starts it, finishes cleanly against this state.
    deployment.run("daily")


def test_production_refuses_to_start_without_its_secrets(deployment):
    env = {**deployment.env, "SECRET_KEY": ""}
    result = subprocess.run(  # noqa: S603
        [str(ROOT / "deploy/run"), "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stdout + result.stderr
