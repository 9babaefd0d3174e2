"""Delivering the outbox: each message is claimed atomically, sent once, retried with backoff.

How a message leaves:
1. `queue_email` writes the row in the caller's transaction.
2. After that transaction commits, the session hook (`crm.email.dispatch`) hands the new ids on: an RQ
   job when REDIS_URL is set; otherwise, in a request, this process's mail thread sends them after
   the response (MAIL_SEND_IN_BACKGROUND, so SMTP never slows a page and timing never tells a
   known address from an unknown one), and outside a request (CLI, jobs) right here. A rolled-back
   transaction leaves no row and sends nothing.
3. `deliver_due` (the job, `flask crm send-outbox`, the daily run) claims rows with one UPDATE
   ... WHERE status='queued' (FOR UPDATE SKIP LOCKED on PostgreSQL), so two workers never get the
   same row; a worker killed mid-send leaves a 'sending' lock. When RQ runs that job again (its
   retry after the worker died), the new run takes the lock back at once; otherwise the sweep
   reclaims it after MAIL_LOCK_TIMEOUT_SECONDS. A row is re-checked as ours just before it is sent,
   so a run whose lock was taken back stops there instead of sending it a second time.
4. A failure is retried with exponential backoff; after MAIL_MAX_ATTEMPTS the row is 'failed' and
   shown at /staff/outbox, where staff can resend it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import Connection, Select, Update, bindparam, select, update

from crm.core.database import commits_not_waiting_for_disk
from crm.core.types import utcnow
from crm.email.models import OutboxMessage, OutboxStatus
from crm.email.sender import MessageHeaders, PermanentFailure, build_message, get_backend
from crm.extensions import db

log = logging.getLogger("crm.email")

outbox = OutboxMessage.__table__

#: Settings this module reads, with their defaults (config.py may set any of them).
DEFAULTS: dict[str, Any] = {
    "MAIL_MAX_ATTEMPTS": 5,
    #: First retry after this many seconds, then doubling.
    "MAIL_RETRY_BASE_SECONDS": 60,
    "MAIL_RETRY_MAX_SECONDS": 6 * 3600,
    #: A 'sending' row older than this belongs to a dead worker and is queued again.
    "MAIL_LOCK_TIMEOUT_SECONDS": 600,
    #: Rows claimed at a time (kept small so a claim never outlives the lock timeout).
    "MAIL_CLAIM_BATCH": 10,
    #: Deliver after commit (inline or via RQ). Tests may turn it off.
    "MAIL_SEND_AFTER_COMMIT": True,
    #: Without Redis, a request's mail goes on a background thread after the response.
    "MAIL_SEND_IN_BACKGROUND": True,
}


def setting(name: str) -> Any:
    return current_app.config.get(name, DEFAULTS[name])


def worker_id(job_id: str | None = None) -> str:
    """A name for one delivery run's claims; under an RQ job it starts with the job's id."""
    where = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    if job_id is None:
        return f"{where}:{uuid.uuid4().hex[:6]}"
    return f"{_job_prefix(job_id)}{uuid.uuid4().hex[:6]}:{where}"[:100]


def _job_prefix(job_id: str) -> str:
    return f"job:{job_id}:"


def _current_job_id() -> str | None:
    """The id of the RQ job this code runs in, or None (inline, CLI, tests)."""
    from rq import get_current_job

    job = get_current_job()
    return str(job.id) if job is not None else None


# -- claiming -------------------------------------------------------------------------------


def reclaim_stale_locks(now: datetime | None = None) -> int:
    """Queue again the rows a killed worker left in 'sending' (they may go out twice: at least once)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=int(setting("MAIL_LOCK_TIMEOUT_SECONDS")))
    with db.engine.begin() as conn:
        result = conn.execute(
            update(outbox)
            .where(outbox.c.status == OutboxStatus.SENDING, outbox.c.locked_at < cutoff)
            .values(status=OutboxStatus.QUEUED, locked_by=None, locked_at=None, next_attempt_at=now)
        )
    if result.rowcount:
        log.warning("reclaimed %s outbox message(s) from dead workers", result.rowcount)
    return int(result.rowcount or 0)


def take_back_earlier_claims(job_id: str, now: datetime | None = None) -> int:
    """Queue again what an earlier run of this RQ job claimed and never finished.

    RQ runs a job again only once the earlier run has failed or its worker was found dead (killed:
    its heartbeat expired), so send those rows now rather than leave them for the sweep after
    MAIL_LOCK_TIMEOUT_SECONDS. A work horse that outlived its killed worker checks each row is still
    its own before sending it, so at most the message it was sending at that moment goes twice.
    """
    now = now or utcnow()
    with db.engine.begin() as conn:
        result = conn.execute(
            update(outbox)
            .where(
                outbox.c.status == OutboxStatus.SENDING,
                outbox.c.locked_by.startswith(_job_prefix(job_id), autoescape=True),
            )
            .values(status=OutboxStatus.QUEUED, locked_by=None, locked_at=None, next_attempt_at=now)
        )
    if result.rowcount:
        log.warning("job %s took back %s outbox message(s) from its earlier run", job_id, result.rowcount)
    return int(result.rowcount or 0)


def claim(
    worker: str,
    now: datetime,
    limit: int,
    ids: Iterable[int] | None = None,
    exclude: Iterable[int] = (),
) -> list[int]:
    """Mark up to `limit` due rows as ours, in one statement; returns the ids we now own."""
    exclude = list(exclude)
    if ids is not None:
        # The rows a commit just queued, by primary key alone. Each condition on them is wrapped in
        # IS TRUE, which no index serves: otherwise both planners walk the due index over every
        # queued row (SQLite always; PostgreSQL while its statistics predate a campaign's rows:
        # ~1 s a claim of 50 at 20,000 queued, against ~1 ms by primary key).
        skipped = set(exclude)
        chosen: Any = outbox.c.id.in_([i for i in ids if i not in skipped][:limit])
        still_due: Any = [
            (outbox.c.status == OutboxStatus.QUEUED).is_(True),
            (outbox.c.next_attempt_at <= now).is_(True),
        ]
    else:
        due = (
            select(outbox.c.id)
            .where(outbox.c.status == OutboxStatus.QUEUED, outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises writers instead
        )
        if exclude:
            due = due.where(outbox.c.id.not_in(exclude))
        chosen = outbox.c.id.in_(due.scalar_subquery())
        # status is checked again here: a row someone else claimed meanwhile is never ours.
        still_due = [outbox.c.status == OutboxStatus.QUEUED]
    statement = (
        update(outbox)
        .where(chosen, *still_due)
        .values(status=OutboxStatus.SENDING, locked_by=worker, locked_at=now)
        .returning(outbox.c.id)
    )
    with db.engine.begin() as conn:
        return sorted(conn.scalars(statement).all())


# -- sending --------------------------------------------------------------------------------


def _backoff(attempts: int) -> timedelta:
    base = int(setting("MAIL_RETRY_BASE_SECONDS"))
    seconds = min(base * 2 ** max(attempts - 1, 0), int(setting("MAIL_RETRY_MAX_SECONDS")))
    return timedelta(seconds=seconds)


@lru_cache(maxsize=8)
def _mark(columns: tuple[str, ...]) -> Update:
    """Record how message `:m_id` went (`columns` set from `:m_<column>`), if `:m_worker` still
    holds it. Built once per set of columns: building a statement costs more than running it."""
    return (
        update(outbox)
        .where(outbox.c.id == bindparam("m_id"), outbox.c.locked_by == bindparam("m_worker"))
        .values(locked_by=None, locked_at=None, **{name: bindparam(f"m_{name}") for name in columns})
    )


@cache
def _check() -> Select[Any]:
    """Message `:c_id` is still being sent by `:c_worker` (nobody took it back)."""
    return select(outbox.c.id).where(
        outbox.c.id == bindparam("c_id"),
        outbox.c.status == OutboxStatus.SENDING,
        outbox.c.locked_by == bindparam("c_worker"),
    )


@lru_cache(maxsize=8)
def _mark_and_check(columns: tuple[str, ...]) -> Select[Any]:
    """Both in one PostgreSQL statement: a data-modifying WITH runs whether or not the query reads
    it, and the check reads another row."""
    return _check().add_cte(_mark(columns).returning(outbox.c.id).cte("marked"))


def _settle(
    conn: Connection, worker: str, finished: tuple[int, dict[str, Any]] | None, next_id: int | None
) -> bool:
    """After each send, record how the message just handed over went, and check that the next one
    is still ours (True), in one transaction: a message costs one commit, and the batch's
    connection does not wait for the disk at it (`commits_not_waiting_for_disk`). On PostgreSQL
    the mark and the check are one statement on a connection in autocommit: one round trip."""
    params: dict[str, Any] = {}
    columns: tuple[str, ...] = ()
    if finished is not None:
        message_id, values = finished
        columns = tuple(sorted(values))
        params = {"m_id": message_id, "m_worker": worker, **{f"m_{k}": v for k, v in values.items()}}
    if next_id is not None:
        params.update(c_id=next_id, c_worker=worker)
    if conn.dialect.name == "postgresql" and finished is not None and next_id is not None:
        owner = conn.scalar(_mark_and_check(columns), params)
        conn.commit()
        return owner is not None
    if finished is not None:
        conn.execute(_mark(columns), params)
    owner = conn.scalar(_check(), params) if next_id is not None else None
    conn.commit()
    return owner is not None


def _outcome(row: Any, error: Exception | None, max_attempts: int) -> tuple[str, dict[str, Any]]:
    """("sent" | "retry" | "failed", the row's new values) after one attempt."""
    attempts = row.attempts + 1
    if error is None:  # sent: the one-time link now lives only in the recipient's mailbox
        return "sent", {"status": OutboxStatus.SENT, "attempts": attempts, "sent_at": utcnow(), "last_error": "",
                        "one_time_link": None}  # fmt: skip
    failed = isinstance(error, PermanentFailure) or attempts >= max_attempts
    now = utcnow()
    values: dict[str, Any] = {
        "status": OutboxStatus.FAILED if failed else OutboxStatus.QUEUED,
        "attempts": attempts,
        "last_error": f"{type(error).__name__}: {error}"[:2000],
        "next_attempt_at": now if failed else now + _backoff(attempts),
    }
    if failed:
        values["one_time_link"] = None  # a given-up link is never kept for anyone to read
    return ("failed" if failed else "retry"), values


def _send_claimed(message_ids: list[int], worker: str, backend: Any, retrying: set[int]) -> dict[str, int]:
    counts = {"sent": 0, "retry": 0, "failed": 0}
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    max_attempts = int(setting("MAIL_MAX_ATTEMPTS"))
    # One connection for the claimed batch: its reads and each message's mark, never a transaction
    # open while a message is being sent.
    with db.engine.connect() as conn, commits_not_waiting_for_disk(conn):
        if conn.dialect.name == "postgresql":
            # Each statement its own transaction: no BEGIN and COMMIT round trips around a mark.
            conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = conn.execute(select(outbox).where(outbox.c.id.in_(message_ids)).order_by(outbox.c.id)).all()
        conn.commit()
        headers = MessageHeaders(sender)
        finished: tuple[int, dict[str, Any]] | None = None
        for row in rows:
            ours = _settle(conn, worker, finished, row.id)
            finished = None
            if not ours:
                log.warning(
                    "outbox row %s was taken back from %s before it was sent; skipped", row.id, worker
                )
                continue
            error: Exception | None = None
            try:
                backend.send(build_message(row, sender, headers))
            except Exception as failure:  # noqa: BLE001  (any failure: record it, retry or give up)
                error = failure
                log.warning("email %s to outbox row %s failed (attempt %s): %s", row.kind, row.id, row.attempts + 1,
                            failure)  # fmt: skip
            outcome, values = _outcome(row, error, max_attempts)
            finished = (row.id, values)
            counts[outcome] += 1
            if outcome == "retry":
                retrying.add(row.id)
        if finished is not None:
            _settle(conn, worker, finished, None)
    return counts


def deliver_due(
    ids: list[int] | None = None, *, now: datetime | None = None, limit: int | None = None
) -> dict[str, int]:
    """Send every due queued message (or only `ids`), claiming small batches until none is left.

    Safe to run in any number of processes at once: a row is sent by whoever claimed it.
    """
    job_id = _current_job_id()
    worker = worker_id(job_id)
    if job_id is not None:
        take_back_earlier_claims(job_id)
    totals = {"sent": 0, "retry": 0, "failed": 0}
    batch = int(setting("MAIL_CLAIM_BATCH"))
    backend = get_backend()
    handled = 0
    retrying: set[int] = set()  # failed in this run: their retry waits for a later run
    # Given ids are offered a claim's worth at a time: a claim's id list stays short whatever the
    # caller passed (a 2,000-id list among 100,000 queued rows outlasted PostgreSQL's statement timeout).
    remaining = None if ids is None else sorted(set(ids))
    try:
        while limit is None or handled < limit:
            moment = now or utcnow()
            size = batch if limit is None else min(batch, limit - handled)
            if remaining is None:
                claimed = claim(worker, moment, size, None, exclude=retrying)
                if not claimed:
                    break
            else:
                if not remaining:
                    break
                window, remaining = remaining[:size], remaining[size:]
                claimed = claim(worker, moment, size, window, exclude=retrying)
                if not claimed:
                    continue
            handled += len(claimed)
            for key, value in _send_claimed(claimed, worker, backend, retrying).items():
                totals[key] += value
    finally:
        backend.close()
    return totals


def deliver_messages(ids: list[int]) -> dict[str, int]:
    """The job queued after a commit: deliver exactly these rows (if still queued and due)."""
    return deliver_due(list(ids))


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Reclaim dead workers' locks and send everything due (cron, the daily run, send-outbox)."""
    reclaim_stale_locks(now)
    return deliver_due(now=now)
