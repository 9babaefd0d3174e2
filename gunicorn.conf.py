"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app` (see README)."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = 20000
max_requests_jitter = 2000
# Build the app once in the master; workers fork it (less memory, faster start).
preload_app = True
accesslog = "-"
errorlog = "-"
# Never log query strings with tokens in them: log the path only.
# One-time tokens in paths (sign-in, reset links) are logged as [token] (crm/core/logging.py).
logger_class = "crm.core.logging.TokenlessAccessLogger"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# No control socket (gunicorn 25+): it would be one path for every server on the host, so a second
# app server (or the benchmarks' baseline) would take it over; signals do the same job.
control_socket_disable = True


def post_fork(server, worker):  # noqa: ARG001  (gunicorn hook signature)
    """Each worker opens its own database connections, never the master's."""
    from crm.extensions import db
    from wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)


def when_ready(server):  # noqa: ARG001  (gunicorn hook signature)
    """Say at start-up when the database needs `flask db upgrade` (instead of every page's 503)."""
    from crm.core.schema_check import warn_if_schema_out_of_date
    from crm.extensions import db
    from wsgi import app

    with app.app_context():
        warn_if_schema_out_of_date()
        db.engine.dispose()  # the master keeps no connection for the workers to inherit
