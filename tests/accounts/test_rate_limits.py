"""Sign-in rate limits per account and per IP, in memory and shared through Redis."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest

from crm import create_app
from tests.accounts.conftest import login
from tests.fixtures import PASSWORD, make_user
from tests.redis_db import worker_redis_url


def _fail(client, email, ip="198.51.100.7"):  # type: ignore[no-untyped-def]
    return client.post(
        "/login",
        data={"email": email, "password": "wrong password here"},
        headers={"X-Forwarded-For": ip},
    )


def test_sixth_failure_for_one_email_is_429_whatever_x_forwarded_for_says(clock, client, member):
    for n in range(5):
        assert _fail(client, "member@example.org", ip=f"203.0.113.{n}").status_code == 200
    blocked = _fail(client, "Member@example.org", ip="203.0.113.99")
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
    assert login(client, "member@example.org").status_code == 429  # documented: the account waits a minute
    clock.shift(timedelta(seconds=61))
    assert login(client, "member@example.org").status_code == 302


def test_successful_sign_ins_do_not_count_towards_the_limit(clock, app, member):
    for _ in range(7):
        assert login(app.test_client(), "member@example.org").status_code == 302


def test_twenty_one_failures_from_one_ip_are_429(clock, client, app):
    emails = [f"user{n}@example.org" for n in range(5)]
    for n in range(20):
        assert _fail(client, emails[n % 5]).status_code == 200
    assert _fail(client, "someone.else@example.org").status_code == 429


def test_reset_and_link_requests_are_limited_per_ip(clock, client, member):
    for n in range(10):
        assert client.post("/password/reset", data={"email": f"a{n}@example.org"}).status_code == 200
    assert client.post("/password/reset", data={"email": "b@example.org"}).status_code == 429
    for n in range(10):
        assert client.post("/login/link", data={"email": f"a{n}@example.org"}).status_code == 200
    assert client.post("/login/link", data={"email": "b@example.org"}).status_code == 429


REDIS_URL = worker_redis_url()  # this worker's own database (tests/redis_db.py)


@pytest.fixture
def redis_client():  # type: ignore[no-untyped-def]
    import redis

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as error:
        if os.environ.get("CRM_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required (CRM_REQUIRE_REDIS=1) but not reachable: {error}")
        pytest.skip(f"Redis not reachable: {error}")
    yield connection
    connection.close()


@pytest.mark.redis
def test_redis_limit_is_shared_by_two_app_processes(redis_client, app):
    prefix = f"crm-test-{uuid.uuid4().hex[:8]}"
    config = {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "WTF_CSRF_ENABLED": False,
    }
    make_user("shared@example.org")
    first = create_app("testing", **config).test_client()
    second = create_app("testing", **config).test_client()
    try:
        for n in range(5):
            assert _fail(first if n % 2 else second, "shared@example.org").status_code == 200
        assert redis_client.keys(f"*{prefix}*"), "the limiter did not write to Redis"
        assert _fail(first, "shared@example.org").status_code == 429
        assert _fail(second, "shared@example.org").status_code == 429
        assert login(second, "shared@example.org", PASSWORD).status_code == 429
    finally:
        for key in redis_client.scan_iter(f"*{prefix}*"):
            redis_client.delete(key)
