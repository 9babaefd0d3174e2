from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from redis import Redis
from redis.exceptions import RedisError

from crm.email.sender import MEMORY_OUTBOX

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real Redis (database 14, emptied around each test). Unreachable: skip, or fail in CI."""
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
