"""What both sides of the job queue share: the Redis connection, the RQ queue and how one job runs.

`crm.jobs.queue` (the enqueuing side) and `crm.jobs.worker` (the listening side) both import this
module and never each other. Every job runs through `run_job` inside an app context, made once per
process, with its own database session.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context

from crm.extensions import db

if TYPE_CHECKING:  # redis is imported where a connection is made: a process without Redis never loads it
    from redis import Redis

log = logging.getLogger("crm.jobs")

#: The one RQ queue every worker listens on.
QUEUE_NAME = "crm"
#: Generous: a news post to 10,000 members, an import or a reconciliation takes minutes.
DEFAULT_JOB_TIMEOUT = 3600
#: What RQ runs for every job (a dotted path, stored in Redis with each queued job).
RUN_JOB_PATH = "crm.jobs.runtime.run_job"

_connections: dict[str, Redis] = {}
_app: Flask | None = None
_engine_pid: int | None = None


def redis_connection(url: str | None = None) -> Redis | None:
    """A (cached) Redis client for REDIS_URL, or None when Redis is not configured."""
    url = url or current_app.config.get("REDIS_URL")
    if not url:
        return None
    if url not in _connections:
        from redis import Redis

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


def check_path(func_path: str) -> None:
    """Refuse a job that is not a function under `crm.` (nothing else may be run as a job)."""
    if not func_path.startswith("crm.") or func_path.count(".") < 2:
        raise ValueError(f"jobs must name a function under crm.: {func_path!r}")


def resolve(func_path: str) -> Callable[..., Any]:
    """The function named by a dotted path under `crm.`."""
    check_path(func_path)
    module_name, _, name = func_path.rpartition(".")
    func = getattr(importlib.import_module(module_name), name, None)
    if not callable(func):
        raise ValueError(f"no job function {func_path!r}")
    return func


def _job_app() -> Flask:
    """The app jobs run in: the current one (CLI worker, tests, inline) or one made once."""
    global _app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]  # current_app is typed as Flask, not as the proxy that has this
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
