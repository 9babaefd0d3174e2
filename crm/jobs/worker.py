"""The worker side of background jobs: an RQ worker on the "crm" queue.

`flask crm worker` starts one; several may run, on several machines, all sharing PostgreSQL and
Redis. Each job runs through `crm.jobs.runtime.run_job`.
"""

from __future__ import annotations

import logging
import os
import socket

from crm.extensions import db
from crm.jobs.runtime import get_queue, redis_connection
from crm.jobs.runtime import run_job as run_job  # jobs queued before 2026-12 name crm.jobs.worker.run_job

log = logging.getLogger("crm.jobs")


def start_worker(*, burst: bool = False, simple: bool = False, with_scheduler: bool = True) -> bool:
    """Listen on the "crm" queue until stopped (or, with `burst`, until it is empty)."""
    from rq import SimpleWorker, Worker

    connection = redis_connection()
    if connection is None:
        raise RuntimeError("REDIS_URL is not set: without Redis, jobs run inline and need no worker")
    db.engine.dispose()  # the parent holds no connection a forked job could inherit
    worker_class = SimpleWorker if simple else Worker
    name = f"{socket.gethostname()}.{os.getpid()}"
    worker = worker_class([get_queue(connection)], connection=connection, name=name)
    log.info("worker %s listening on the crm queue", name)
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler))
