"""R9: the RQ worker SIGKILLed in the middle of a job that sends email.

A real `flask crm worker` (RQ, forking a work horse per job) on the real Redis at 127.0.0.1:6379,
in a Redis database of its own (the first empty one of 1-12 this test can lock, so parallel runs
never share a queue), delivers three outbox messages over SMTP to a test server on loopback. The
server holds the second message's MAIL FROM until the test lets it go: the kill always lands
inside the job, with message 1 sent and messages 2 and 3 claimed ('sending'), never by timing luck.

Two kills: the work horse alone (the process running the job; its worker survives and fails the
job at once), and the worker with its horse and scheduler (the machine gone; RQ finds the job
abandoned once its heartbeat expires). Either way RQ retries the job (Retry(max=3), first after
10 s), the retry takes back the dead run's claims and sends them, and each message reaches the
SMTP server exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess  # noqa: S404  (fixed argument lists, no shell)
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from crm.email.models import OutboxMessage
from crm.email.services import queue_email
from crm.extensions import db
from crm.jobs.queue import QUEUE_NAME
from tests.email.smtp_server import ScriptedHandler, free_port
from tests.redis_db import RELIABILITY_MAX_DB

pytestmark = [pytest.mark.slow, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]
#: RQ forgets a dead worker's job once its heartbeat lapses: the job-monitoring interval (30 s) + 60 s.
HEARTBEAT_TTL = 90
_LOCK = "crm-test:reliability-worker-killed"


# --- a Redis database of our own, an SMTP server that stalls, the worker process -----------------


@pytest.fixture
def private_redis_url() -> Iterator[str]:
    """redis://127.0.0.1:6379/N for the first empty database N in 1-9 (tests/redis_db.py) that we lock."""
    import redis

    token = uuid.uuid4().hex
    for number in range(1, RELIABILITY_MAX_DB + 1):
        connection = redis.Redis(host="127.0.0.1", port=6379, db=number, socket_connect_timeout=2)
        try:
            if connection.dbsize() == 0 and connection.set(_LOCK, token, nx=True, ex=600):
                break
        except redis.RedisError as error:
            if os.environ.get("CRM_REQUIRE_REDIS") == "1":
                pytest.fail(f"Redis is required (CRM_REQUIRE_REDIS=1) but not reachable: {error}")
            pytest.skip(f"Redis not reachable: {error}")
        connection.close()
    else:
        pytest.fail(f"no empty Redis database among 1-{RELIABILITY_MAX_DB} for this test")
    try:
        yield f"redis://127.0.0.1:6379/{number}"
    finally:
        connection.flushdb()
        connection.close()


class StallingHandler(ScriptedHandler):
    """Holds the n-th MAIL FROM until `release` is set, then refuses it; other messages go through."""

    def __init__(self, stall_at: int) -> None:
        super().__init__()
        self.stall_at = stall_at
        self.mail_commands = 0
        self.stalled = threading.Event()
        self.release = threading.Event()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        self.mail_commands += 1
        if self.mail_commands == self.stall_at:
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "421 4.3.2 Service shutting down"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


@pytest.fixture
def stalling_smtp() -> Iterator[tuple[StallingHandler, int]]:
    handler, port = StallingHandler(stall_at=2), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "MAIL_BACKEND": "memory"}


@pytest.fixture
def workers(app, private_redis_url, stalling_smtp, tmp_path) -> Iterator[Callable[[], subprocess.Popen]]:
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
        "MAIL_PORT": str(stalling_smtp[1]),
        "MAIL_USE_TLS": "0",
        "RATELIMIT_ENABLED": "0",
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
        for pid in [*_children(process.pid), process.pid]:  # horses have process groups of their own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        process.wait(timeout=10)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _work_horse(worker: subprocess.Popen) -> int:
    """The forked process running the job: RQ puts it in a process group of its own."""
    horses = [pid for pid in _children(worker.pid) if os.getpgid(pid) == pid]
    assert len(horses) == 1, horses
    return horses[0]


def _outbox() -> dict[str, OutboxMessage]:
    db.session.expire_all()
    rows = {m.dedupe_key: m for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))}
    db.session.expunge_all()  # plain snapshots: reading them later opens no transaction
    db.session.commit()  # and hold none open while the worker writes
    return rows


def _wait(condition: Callable[[], bool], what: str, seconds: float = 40) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


# --- the test ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kill", ["work horse", "worker, horse and scheduler"])
def test_a_worker_killed_mid_email_job_is_retried_and_each_message_goes_out_once(
    app, private_redis_url, stalling_smtp, workers, kill
):
    from redis import Redis
    from rq import Queue
    from rq.job import Job, JobStatus
    from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
    from rq.scheduler import RQScheduler

    handler, _port = stalling_smtp
    app.config["REDIS_URL"] = private_redis_url  # the web side only queues: the commit enqueues a job
    redis = Redis.from_url(private_redis_url)
    queue = Queue(QUEUE_NAME, connection=redis)
    keys = [f"r9-lapsed-{n}" for n in range(3)]
    for n, key in enumerate(keys):
        queue_email(
            f"member{n}@example.org", "membership_lapsed", {"first_name": f"Member {n}"}, dedupe_key=key
        )
    db.session.commit()  # the after-commit hook enqueues one delivery job for the three rows
    assert len(queue.job_ids) == 1
    job_id = queue.job_ids[0]
    db.session.remove()

    worker = workers()
    assert handler.stalled.wait(timeout=40), "the job never reached the SMTP server"
    rows = _outbox()
    assert [rows[k].status for k in keys] == ["sent", "sending", "sending"]
    assert len(handler.accepted) == 1

    horse = _work_horse(worker)
    if kill == "work horse":
        os.kill(horse, signal.SIGKILL)
        handler.release.set()
        job = Job.fetch(job_id, connection=redis)
        # RQ writes the SCHEDULED status at once and the rest of the retry (retries_left, the
        # scheduled registry) in one pipeline after it: the registry entry is the retry's last word.
        _wait(
            lambda: job_id in ScheduledJobRegistry(queue=queue),
            "the surviving worker to fail and retry the job",
        )
        assert job.get_status() == JobStatus.SCHEDULED
    else:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its scheduler first: nobody sees the horse die
        os.kill(horse, signal.SIGKILL)
        worker.wait(timeout=10)
        handler.release.set()
        job = Job.fetch(job_id, connection=redis)
        assert job.get_status() == JobStatus.STARTED  # abandoned: nobody is left to notice
        # RQ's own clean-up, as a live worker's maintenance runs it once the heartbeat has lapsed;
        # the dead scheduler's lock would lapse by itself 61 s after its death.
        StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + HEARTBEAT_TTL + 1)
        redis.delete(RQScheduler.get_locking_key(QUEUE_NAME))
        assert job.get_status() == JobStatus.SCHEDULED
        workers()  # a worker comes back
    job.refresh()
    assert job.retries_left == 2  # retried once, not failed
    assert _outbox()[keys[1]].status == "sending"  # still the dead run's claim until the retry runs

    _wait(lambda: job.get_status() == JobStatus.FINISHED, "the retried job to finish")
    rows = _outbox()
    assert {k: (rows[k].status, rows[k].attempts, rows[k].locked_by) for k in keys} == {
        k: ("sent", 1, None) for k in keys
    }
    assert all(rows[k].sent_at is not None for k in keys)
    by_row = {f"<outbox.{rows[k].id}.": k for k in keys}
    delivered = Counter(
        next(k for prefix, k in by_row.items() if str(m["Message-ID"]).startswith(prefix))
        for m in handler.accepted
    )
    assert delivered == Counter(keys)  # exactly one email per dedupe key reached the SMTP server
    assert sorted(str(m["To"]) for m in handler.accepted) == [f"member{n}@example.org" for n in range(3)]
    assert FailedJobRegistry(queue=queue).count == 0


def test_a_work_horse_outliving_its_killed_worker_does_not_resend_what_the_retry_took_back(app):
    """`kill -9` of the worker alone leaves its horse running: once the retry has taken the claims
    back, the old run must not send them too (it checks each row is still its own before sending)."""
    from crm.core.types import utcnow
    from crm.email.delivery import _send_claimed, claim, deliver_due, take_back_earlier_claims, worker_id
    from crm.email.sender import MEMORY_OUTBOX, MemoryBackend

    app.config["MAIL_SEND_AFTER_COMMIT"] = False
    MEMORY_OUTBOX.clear()
    for n in range(2):
        queue_email(
            f"orphan{n}@example.org", "membership_lapsed", {"first_name": "Ana"}, dedupe_key=f"orphan-{n}"
        )
    db.session.commit()
    old_run = worker_id("job-1")
    claimed = claim(old_run, utcnow(), 10)  # the horse claims both, then stalls
    assert take_back_earlier_claims("job-1") == 2  # the retry of job-1 takes them back...
    assert deliver_due()["sent"] == 2  # ...and sends them
    assert _send_claimed(claimed, old_run, MemoryBackend(), set())["sent"] == 0  # the horse wakes up
    assert sorted(str(m["To"]) for m in MEMORY_OUTBOX) == ["orphan0@example.org", "orphan1@example.org"]
    assert {m.status for m in _outbox().values()} == {"sent"}
    MEMORY_OUTBOX.clear()
