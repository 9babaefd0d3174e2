"""Background jobs: RQ on Redis when REDIS_URL is set, an inline call otherwise.

Every job is a dotted path to a function under `crm.` plus plain arguments. `crm.jobs.runtime`
runs it inside an app context, on a worker or inline, so job functions use `db.session` as a
request would (and commit once, as the CLI does).
"""

from __future__ import annotations

import logging
from typing import Any

from crm.jobs.runtime import QUEUE_NAME as QUEUE_NAME  # re-exported: the queue's public name
from crm.jobs.runtime import RUN_JOB_PATH, check_path, get_queue, run_job

log = logging.getLogger("crm.jobs")


def try_enqueue(func_path: str, *args: Any, **kwargs: Any) -> str | None:
    """Put the job on Redis and return its id; None when Redis is not configured or is down."""
    check_path(func_path)
    queue = get_queue()
    if queue is None:
        return None
    from redis.exceptions import RedisError  # here: a process without Redis never loads it
    from rq import Retry

    try:
        job = queue.enqueue_call(
            RUN_JOB_PATH,
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
    run_job(func_path, *args, **kwargs)
    return None
