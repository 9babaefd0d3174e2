"""The worker side of background jobs: every job runs inside an app context, made once per process.

`flask crm worker` starts an RQ worker on the "crm" queue; several may run, on several machines,
all sharing PostgreSQL and Redis.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, has_app_context

from crm.extensions import db

log = logging.getLogger("crm.jobs")

_app: Flask | None = None
_engine_pid: int | None = None


def resolve(func_path: str) -> Callable[..., Any]:
    """The function named by a dotted path under `crm.` (nothing else may be run as a job)."""
    from crm.jobs.queue import _check_path

    _check_path(func_path)
    module_name, _, name = func_path.rpartition(".")
    func = getattr(importlib.import_module(module_name), name, None)
    if not callable(func):
        raise ValueError(f"no job function {func_path!r}")
    return func


def _job_app() -> Flask:
    """The app jobs run in: the current one (CLI worker, tests, inline) or one made once."""
    global _app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _app is None:
        from crm import create_app

        _app = create_app()
    return _app


def run_job(func_path: str, *args: Any, **kwargs: Any) -> Any:
    """Run one job in a fresh app context (its own database session), then release the session."""
    global _engine_pid
    app = _job_app()
    with app.app_context():
        if _engine_pid not in (None, os.getpid()):
            # A forked work horse must not reuse the parent's pooled connections.
            db.engine.dispose(close=False)
        _engine_pid = os.getpid()
        try:
            return resolve(func_path)(*args, **kwargs)
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()


def start_worker(*, burst: bool = False, simple: bool = False, with_scheduler: bool = True) -> bool:
    """Listen on the "crm" queue until stopped (or, with `burst`, until it is empty)."""
    from rq import SimpleWorker, Worker

    from crm.jobs.queue import get_queue, redis_connection

    connection = redis_connection()
    if connection is None:
        raise RuntimeError("REDIS_URL is not set: without Redis, jobs run inline and need no worker")
    db.engine.dispose()  # the parent holds no connection a forked job could inherit
    worker_class = SimpleWorker if simple else Worker
    name = f"{socket.gethostname()}.{os.getpid()}"
    worker = worker_class([get_queue(connection)], connection=connection, name=name)
    log.info("worker %s listening on the crm queue", name)
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler))
