"""A stalled Stripe stalls only the person waiting on it (issue 26 items 19 and 21, control #39).

Stripe is never called inside a database write transaction, and a call gives up after
STRIPE_TIMEOUT seconds (each of STRIPE_MAX_NETWORK_RETRIES retries again): while a join waits on
a hanging Stripe, another member signs in at once, /healthz answers, and the joiner is told
within 15 s that nothing was charged.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import PASSWORD, make_user
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans


@pytest.fixture
def app_config() -> dict[str, object]:
    # Production's retry count; the timeout is the default setting.
    from config import Config

    production_timeout = Config().STRIPE_TIMEOUT  # what a deployment gets unless it sets one
    assert production_timeout == 3.0
    return {
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "STRIPE_MAX_NETWORK_RETRIES": 2,
        "STRIPE_TIMEOUT": production_timeout,
    }


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def test_with_stripe_hanging_others_sign_in_at_once_and_the_joiner_hears_within_15_seconds(
    app, plans, stripe_sandbox
):
    make_user("member@example.org", "member")
    stripe_sandbox.fail_next("/v1/", "hang", count=3, seconds=20)  # every attempt of the first call
    joined: dict[str, Any] = {}
    data = form(plans)

    def join() -> None:
        started = time.monotonic()
        response = app.test_client().post("/join", data=data)
        joined.update(
            status=response.status_code, html=response.get_data(as_text=True), took=time.monotonic() - started
        )

    joiner = threading.Thread(target=join)
    joiner.start()
    time.sleep(1.0)  # the join has written its pending membership and is waiting on Stripe

    member = app.test_client()
    started = time.monotonic()
    signed_in = member.post("/login", data={"email": "member@example.org", "password": PASSWORD})
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:500]
    assert time.monotonic() - started < 5
    started = time.monotonic()
    assert member.get("/healthz").status_code == 200
    assert time.monotonic() - started < 2

    joiner.join(timeout=40)
    assert not joiner.is_alive()
    assert joined["took"] < 15, joined["took"]
    assert joined["status"] == 200
    assert "could not reach our payment provider" in joined["html"]
    assert "You have not been charged" in joined["html"]
    db.session.expire_all()
    assert db.session.scalar(select(Membership.status)) == "pending"  # kept, so trying again reuses it
