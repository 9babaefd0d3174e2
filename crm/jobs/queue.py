"""Background jobs: RQ on Redis when REDIS_URL is set, an inline call otherwise.

Every job is a dotted path to a function under `crm.` plus plain arguments. On the worker side
`crm.jobs.worker.run_job` runs it inside an app context, so job functions use `db.session` as a
request would (and commit once, as the CLI does).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger("crm.jobs")

#: The one RQ queue every worker listens on.
QUEUE_NAME = "crm"
#: Generous: a news post to 10,000 members, an import or a reconciliation takes minutes.
DEFAULT_JOB_TIMEOUT = 3600

_connections: dict[str, Redis] = {}


def redis_connection(url: str | None = None) -> Redis | None:
    """A (cached) Redis client for REDIS_URL, or None when Redis is not configured."""
    url = url or current_app.config.get("REDIS_URL")
    if not url:
        return None
    if url not in _connections:
        # Short timeouts: a page that enqueues must not hang when Redis is down.
        _connections[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return _connections[url]


def get_queue(connection: Redis | None = None) -> Any:
    """The RQ queue, or None in inline mode."""
    from rq import Queue

    connection = connection or redis_connection()
    if connection is None:
        return None
    return Queue(QUEUE_NAME, connection=connection, default_timeout=DEFAULT_JOB_TIMEOUT)


def try_enqueue(func_path: str, *args: Any, **kwargs: Any) -> str | None:
    """Put the job on Redis and return its id; None when Redis is not configured or is down."""
    _check_path(func_path)
    queue = get_queue()
    if queue is None:
        return None
    from rq import Retry

    try:
        job = queue.enqueue_call(
            "crm.jobs.worker.run_job",
            args=(func_path, *args),
            kwargs=kwargs,
            # Jobs are idempotent (outbox claims, dedupe keys), so a retry never doubles anything.
            retry=Retry(max=3, interval=[10, 60, 300]),
            description=func_path,
        )
    except RedisError as error:
        log.error("Redis unavailable, %s not queued: %s", func_path, error)
        return None
    return str(job.id)


def enqueue(func_path: str, *args: Any, **kwargs: Any) -> str | None:
    """Run `func_path(*args, **kwargs)` in the background (RQ) or, without Redis, right now.

    Returns the RQ job id, or None when the job ran inline (no REDIS_URL, or Redis unreachable:
    the work is done now rather than lost). Inline jobs run in a fresh app context with their own
    database session, exactly as on a worker, so enqueue after committing what the job needs.
    """
    job_id = try_enqueue(func_path, *args, **kwargs)
    if job_id is not None:
        return job_id
    from crm.jobs.worker import run_job

    run_job(func_path, *args, **kwargs)
    return None


def _check_path(func_path: str) -> None:
    if not func_path.startswith("crm.") or func_path.count(".") < 2:
        raise ValueError(f"jobs must name a function under crm.: {func_path!r}")
