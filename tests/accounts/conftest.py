"""Accounts tests: CSRF off for brevity (its own test turns it back on), plus a staff-only route."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from flask_login import current_user, login_required

from crm.core.permissions import requires
from crm.email.models import OutboxMessage
from crm.extensions import db
from tests.fixtures import PASSWORD
from tests.sent_mail import sent_text

START = datetime(2030, 1, 7, 9, 0, 5, tzinfo=UTC)


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False}


def _test_routes(app: Flask) -> None:
    @app.get("/_test/staff-only")
    @requires("news")
    def _staff_only():  # type: ignore[no-untyped-def]
        return "staff page"

    @app.get("/_test/whoami")
    @login_required
    def _whoami():  # type: ignore[no-untyped-def]
        return current_user.email


@pytest.fixture
def app_setup():  # type: ignore[no-untyped-def]
    """A staff-only route and a "who am I" route, added when the app is built."""
    return _test_routes


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    """A frozen clock at a known time; `clock.shift(timedelta)` moves it."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def login(client: FlaskClient, email: str, password: str = PASSWORD, **extra: object):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"email": email, "password": password, **extra})


def is_signed_in(client: FlaskClient) -> bool:
    response = client.get("/_test/whoami")
    return response.status_code == 200


def outbox(kind: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            db.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
    )


def link_in(message: OutboxMessage, prefix: str) -> str:
    """The path of the link in an email (from BASE_URL http://crm.test)."""
    text = sent_text(message)
    for word in text.split():
        if word.startswith(f"http://crm.test{prefix}"):
            return word[len("http://crm.test") :]
    raise AssertionError(f"no {prefix} link in {text!r}")
