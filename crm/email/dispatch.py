"""Getting committed outbox rows delivered: after the transaction that queued them commits, as an
RQ job with Redis, or on this process's mail thread after the response, or at once; and the
staff "Resend". The delivery itself (claim, send, mark) is `crm.email.delivery`."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import current_app, has_app_context, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm.core.types import utcnow
from crm.email.delivery import deliver_due, setting
from crm.email.models import OutboxMessage, OutboxStatus
from crm.extensions import db

log = logging.getLogger("crm.email")
_SESSION_KEY = "crm_outbox_new_ids"


def requeue(message: OutboxMessage) -> None:
    """Staff "Resend": queue a failed (or sent) message again with fresh attempts; flushes."""
    message.status = OutboxStatus.QUEUED
    message.attempts = 0
    message.next_attempt_at = utcnow()
    message.locked_by = None
    message.locked_at = None
    db.session.flush()
    deliver_after_commit(db.session(), [message.id])


# -- after commit ---------------------------------------------------------------------------


def deliver_after_commit(session: Session, ids: Iterable[int]) -> None:
    """Have these outbox rows delivered once the session's current transaction commits."""
    session.info.setdefault(_SESSION_KEY, set()).update(ids)


def dispatch(ids: list[int]) -> None:
    """Deliver freshly committed rows: an RQ job with Redis; without it (or if it is down) on this
    process's mail thread after the response (MAIL_SEND_IN_BACKGROUND), or right now."""
    if not ids:
        return
    from crm.jobs.queue import try_enqueue

    if current_app.config.get("REDIS_URL") and try_enqueue("crm.email.delivery.deliver_messages", ids):
        return
    if has_request_context() and current_app.config.get("MAIL_SEND_IN_BACKGROUND", True):
        _background().submit(_deliver_in_background, current_app._get_current_object(), list(ids))  # type: ignore[attr-defined]  # current_app is typed as Flask, not the proxy
        return
    deliver_due(ids)


# -- after the response, without Redis ------------------------------------------------------

_executor: ThreadPoolExecutor | None = None
_executor_pid: int | None = None
_executor_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """One mail thread per process (made after a fork, never shared with the parent): a request
    never waits for SMTP, so a known address answers as fast as an unknown one (control #38)."""
    global _executor, _executor_pid
    with _executor_lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-mail")
            _executor_pid = os.getpid()
        return _executor


def _deliver_in_background(app: Any, ids: list[int]) -> None:
    with app.app_context():
        try:
            deliver_due(ids)
        except Exception:  # noqa: BLE001  (rows stay queued: the sweep sends them)
            log.exception("background delivery failed; the rows stay queued for the sweep")
        finally:
            db.session.remove()


def wait_for_background_mail(timeout: float = 30.0) -> None:
    """Block until what the mail thread was given has been handed to the mail server (tests, and
    a worker shutting down)."""
    if _executor is not None and _executor_pid == os.getpid():
        _executor.submit(lambda: None).result(timeout=timeout)


def _after_flush(session: Session, _context: Any) -> None:
    new_ids = [obj.id for obj in session.new if isinstance(obj, OutboxMessage) and obj.id is not None]
    if new_ids:
        deliver_after_commit(session, new_ids)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released; the rows are not committed yet
    ids = session.info.pop(_SESSION_KEY, None)
    if not ids or not has_app_context() or not setting("MAIL_SEND_AFTER_COMMIT"):
        return
    try:
        dispatch(sorted(ids))
    except Exception:  # noqa: BLE001  (the change is committed; the sweep sends what is left)
        log.exception("outbox delivery after commit failed; the rows stay queued for the sweep")


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_SESSION_KEY, None)


def register_session_hooks() -> None:
    """Listen on db.session once per process (its sessionmaker serves every app and thread)."""
    for name, listener in (
        ("after_flush", _after_flush),
        ("after_commit", _after_commit),
        ("after_soft_rollback", _after_soft_rollback),
    ):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)


register_session_hooks()
