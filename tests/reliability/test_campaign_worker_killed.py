"""Issue 21: a worker killed mid-campaign resumes with no duplicates.

A real `flask crm worker` (RQ) in a Redis database of its own sends a campaign to 30 people over
SMTP to a server on loopback (aiosmtpd). The server holds the 12th message's MAIL FROM until the
test has SIGKILLed the worker, its work horse and its scheduler: 11 people have their email, the
rest do not, and the kill lands inside a delivery job with claimed rows, never by timing luck.
A new worker comes up; RQ's clean-up finds the dead job abandoned and retries it, which takes
back the dead run's claims. Every recipient gets exactly one email and the report adds up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess  # noqa: S404  (fixed argument lists, no shell)
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from crm.audiences import services as audiences
from crm.campaigns import sending, services
from crm.campaigns.models import Campaign
from crm.extensions import db
from crm.jobs.queue import QUEUE_NAME
from tests.email.smtp_server import free_port
from tests.fixtures import make_contact
from tests.reliability.test_worker_killed import (  # noqa: F401  (private_redis_url is a fixture)
    HEARTBEAT_TTL,
    StallingHandler,
    _children,
    _work_horse,
    private_redis_url,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 30
STALL_AT = 12


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "MAIL_BACKEND": "memory"}


@pytest.fixture
def smtp() -> Iterator[tuple[StallingHandler, int]]:
    handler, port = StallingHandler(stall_at=STALL_AT), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


@pytest.fixture
def workers(app, private_redis_url, smtp, tmp_path) -> Iterator[Callable[[], subprocess.Popen]]:  # noqa: F811
    """Starts `flask crm worker` processes (each in its own process group); all are killed at the end."""
    started: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "CRM_ENV": "development",
        "CRM_INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": private_redis_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp[1]),
        "MAIL_USE_TLS": "0",
        "RATELIMIT_ENABLED": "0",
        # Five recipients a batch, each batch's delivery a job of its own; no pause between batches.
        "CAMPAIGN_BATCH": "5",
        "CAMPAIGN_RATE_PER_MINUTE": "100000",
        "PYTHONPATH": str(ROOT),
    }

    def start() -> subprocess.Popen:
        log = (tmp_path / f"worker-{len(started)}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "worker"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        for pid in [*_children(process.pid), process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def _report(campaign_id: int) -> services.Report:
    db.session.expire_all()
    found = services.report(db.session.get(Campaign, campaign_id))
    db.session.commit()  # hold no transaction open while the worker writes
    return found


def test_a_worker_killed_mid_campaign_resumes_and_everyone_gets_exactly_one_email(
    app,
    staff_user,
    private_redis_url,  # noqa: F811  (the fixture imported above)
    smtp,
    workers,
):
    from redis import Redis
    from rq.registry import StartedJobRegistry
    from rq.scheduler import RQScheduler

    handler, _port = smtp
    people = [f"person{n}@example.org" for n in range(PEOPLE)]
    for email in people:
        make_contact(email, postcode="N1 9GU", email_consent=True)
    audience = audiences.save_audience("Everyone in N", {"postcode_areas": ["N"]}, actor=staff_user)
    campaign = services.save_draft(None, subject="Delegation report", preheader="", body="We **met** them.",
                                   purpose="news", audience_id=audience.id, post_id=None, actor=staff_user)  # fmt: skip
    db.session.commit()
    expected = services.recipient_count(campaign)
    assert expected == PEOPLE
    services.confirm_send(campaign, count_seen=expected, when_uk=None, actor=staff_user)
    db.session.commit()
    campaign_id = campaign.id
    app.config["REDIS_URL"] = private_redis_url
    assert sending.start_due_campaigns() == 1  # what `flask crm send-campaigns` does each minute
    db.session.remove()

    worker = workers()
    assert handler.stalled.wait(timeout=60), "the campaign's email never reached the SMTP server"
    arrived = Counter(str(m["To"]) for m in handler.accepted)
    assert sum(arrived.values()) == STALL_AT - 1  # some, not all

    horse = _work_horse(worker)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its scheduler: the machine gone
    os.kill(horse, signal.SIGKILL)
    worker.wait(timeout=10)
    handler.release.set()
    report = _report(campaign_id)
    assert report.sent == STALL_AT - 1 and report.sent + report.queued == PEOPLE

    redis = Redis.from_url(private_redis_url)
    # RQ's own clean-up, as the new worker's maintenance runs it once the dead one's heartbeat has
    # lapsed; the dead scheduler's lock would lapse by itself 61 s after its death.
    StartedJobRegistry(QUEUE_NAME, connection=redis).cleanup(timestamp=time.time() + HEARTBEAT_TTL + 1)
    redis.delete(RQScheduler.get_locking_key(QUEUE_NAME))
    workers()  # a worker comes back

    _wait(lambda: _report(campaign_id).sent == PEOPLE, "every recipient's email to be sent")
    delivered = Counter(str(m["To"]) for m in handler.accepted)
    assert delivered == Counter(people)  # exactly one email each reached the SMTP server
    assert len({str(m["Message-ID"]) for m in handler.accepted}) == PEOPLE
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in handler.accepted)
    report = _report(campaign_id)
    assert (report.recipients, report.sent, report.queued, report.failed, report.pending, report.skipped) == (
        PEOPLE, PEOPLE, 0, 0, 0, 0,
    )  # fmt: skip
    assert db.session.get(Campaign, campaign_id).status == "sent"
