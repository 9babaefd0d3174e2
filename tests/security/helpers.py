"""Small helpers shared by the security tests."""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from crm.email.models import OutboxMessage
from crm.extensions import db
from tests.fixtures import PASSWORD
from tests.redis_db import worker_redis_url
from tests.sent_mail import sent_text

REDIS_URL = worker_redis_url()  # this worker's own database (tests/redis_db.py)


def redis_or_skip() -> Any:
    """A Redis client on this worker's database, or skip (fail when CRM_REQUIRE_REDIS=1)."""
    import redis

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as error:
        if os.environ.get("CRM_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required (CRM_REQUIRE_REDIS=1) but not reachable: {error}")
        pytest.skip(f"Redis not reachable: {error}")
    return connection


def login(client: FlaskClient, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/login", data={"email": email, "password": password, **extra})


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/account")
    return response.status_code == 200


def outbox(kind: str) -> list[OutboxMessage]:
    db.session.expire_all()
    stmt = db.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    return list(db.session.scalars(stmt))


def link_in(message: OutboxMessage, prefix: str) -> str:
    match = re.search(re.escape(prefix) + r"[A-Za-z0-9_\-.]+", sent_text(message))
    assert match, f"no {prefix} link in {message.kind}"
    return match.group(0).rstrip(".")


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", html)


def median_times(calls: dict[str, Callable[[], Any]], tries: int = 10) -> dict[str, float]:
    """Median seconds of each call, run interleaved (so machine noise hits both alike)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm up
    for _ in range(tries):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}
