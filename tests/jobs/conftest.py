from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from redis import Redis
from redis.exceptions import RedisError

from crm.email.sender import MEMORY_OUTBOX
from tests.redis_db import worker_redis_url

REDIS_TEST_URL = worker_redis_url()  # this worker's own database (tests/redis_db.py)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real Redis (this worker's database, emptied around each test). Unreachable: skip, or fail in CI."""
    connection = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except RedisError as error:
        message = f"Redis not reachable at {REDIS_TEST_URL}: {error}"
        if os.environ.get("CRM_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    connection.flushdb()
    yield REDIS_TEST_URL
    connection.flushdb()
    connection.close()


@pytest.fixture(autouse=True)
def _empty_memory_outbox() -> Iterator[None]:
    MEMORY_OUTBOX.clear()
    yield
    MEMORY_OUTBOX.clear()
