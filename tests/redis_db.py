"""The Redis database of this test worker: one per xdist worker and per run (SQLite or PostgreSQL).

`make test` may run the SQLite and PostgreSQL passes at the same time, each with xdist workers
gw0, gw1, ...; a test that flushes its Redis database must never flush another worker's. The
number is derived, not claimed: SQLite pass gw0 -> 15, gw1 -> 14, gw2 -> 13; PostgreSQL pass
gw0 -> 12, gw1 -> 11, gw2 -> 10. Databases 1-9 are claimed per test by tests/reliability.
The server is TEST_REDIS_URL's (default the local one); its database part is ignored.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

#: Workers per run that get a database of their own (tests/run.sh uses 2).
MAX_WORKERS = 3
#: The highest database tests/reliability may claim.
RELIABILITY_MAX_DB = 15 - 2 * MAX_WORKERS


def worker_redis_db() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    if index >= MAX_WORKERS:
        raise RuntimeError(f"xdist worker {worker}: at most {MAX_WORKERS} workers have a Redis database")
    postgres_run = (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgres")
    return 15 - (MAX_WORKERS if postgres_run else 0) - index


def worker_redis_url() -> str:
    server = urlsplit(os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379")
    return f"redis://{server.netloc}/{worker_redis_db()}"
