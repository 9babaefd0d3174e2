"""/join/success asks Stripe for the session on every visit, so it has a rate limit (issue 26
item 18); other reads stay outside the limiter (Flask-Limiter's public `request_filter`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"RATELIMIT_ENABLED": True}


def test_the_success_page_is_limited_to_30_visits_a_minute(client, stripe_sandbox):
    codes = [client.get("/join/success?session_id=cs_test_unknown").status_code for _ in range(31)]
    assert codes[:30] == [200] * 30
    assert codes[30] == 429


def test_ordinary_reads_are_not_limited(client, stripe_sandbox):
    assert {client.get("/join").status_code for _ in range(40)} == {200}
