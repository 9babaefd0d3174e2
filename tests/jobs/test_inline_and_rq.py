"""Background work in both modes: inline without REDIS_URL, RQ on a real Redis with it."""

from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from crm.email.models import OutboxMessage
from crm.email.sender import MEMORY_OUTBOX
from crm.email.services import queue_email
from crm.extensions import db
from crm.jobs.queue import QUEUE_NAME, enqueue


def _queue_lapsed() -> int:
    message = queue_email("ana@example.org", "membership_lapsed", {"first_name": "Ana"})
    assert message is not None
    return message.id


def _status(message_id: int) -> str:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id).status


def _run_worker(url: str) -> None:
    connection = Redis.from_url(url)
    worker = SimpleWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection)
    worker.work(burst=True)


class TestInlineMode:
    @pytest.fixture
    def app_config(self) -> dict[str, object]:
        return {"MAIL_BACKEND": "memory", "REDIS_URL": None}

    def test_email_is_sent_in_this_process_right_after_commit(self, app):
        message_id = _queue_lapsed()
        db.session.commit()
        assert _status(message_id) == "sent"
        assert len(MEMORY_OUTBOX) == 1

    def test_enqueue_runs_the_job_at_once_in_its_own_session(self, app):
        app.config["MAIL_SEND_AFTER_COMMIT"] = False
        message_id = _queue_lapsed()
        db.session.commit()
        assert _status(message_id) == "queued"
        assert enqueue("crm.email.delivery.sweep") is None  # None: it ran inline
        assert _status(message_id) == "sent"

    def test_only_crm_functions_can_be_jobs(self, app):
        with pytest.raises(ValueError):
            enqueue("os.system", "true")


class TestRQMode:
    @pytest.fixture
    def app_config(self, redis_url) -> dict[str, object]:  # type: ignore[no-untyped-def]
        return {"MAIL_BACKEND": "memory", "REDIS_URL": redis_url}

    def test_commit_enqueues_a_job_and_a_worker_sends_the_email(self, app, redis_url):
        message_id = _queue_lapsed()
        db.session.commit()
        assert _status(message_id) == "queued"  # not sent by the web process
        assert MEMORY_OUTBOX == []
        assert Queue(QUEUE_NAME, connection=Redis.from_url(redis_url)).count == 1

        _run_worker(redis_url)
        assert _status(message_id) == "sent"
        assert len(MEMORY_OUTBOX) == 1

    def test_job_run_twice_still_sends_once(self, app, redis_url):
        message_id = _queue_lapsed()
        db.session.commit()
        enqueue("crm.email.delivery.deliver_messages", [message_id])  # a duplicate job
        _run_worker(redis_url)
        assert _status(message_id) == "sent"
        assert len(MEMORY_OUTBOX) == 1

    def test_enqueue_returns_a_job_id_and_the_job_runs_in_an_app_context(self, app, redis_url):
        app.config["MAIL_SEND_AFTER_COMMIT"] = False
        message_id = _queue_lapsed()
        db.session.commit()
        job_id = enqueue("crm.email.delivery.sweep")
        assert job_id
        _run_worker(redis_url)
        assert _status(message_id) == "sent"

    def test_redis_down_at_enqueue_time_falls_back_and_loses_nothing(self, app):
        app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
        message_id = _queue_lapsed()
        db.session.commit()
        assert _status(message_id) == "sent"  # delivered inline instead
        assert enqueue("crm.email.delivery.sweep") is None  # ran inline
        rows = db.session.scalars(select(OutboxMessage.status)).all()
        assert rows == ["sent"]
