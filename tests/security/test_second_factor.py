"""Issue 26 item 16 (control #37): the 5-wrong-codes limit of the staff second factor is counted on
the server, per account. The attack: replay the cookie from before the wrong codes, or enter the
password again, to get five more guesses each time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm.accounts import mfa
from crm.extensions import db
from tests.security.helpers import login, signed_in

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
WRONG = "000000"


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    with time_machine.travel(datetime(2030, 3, 4, 9, 0, 10, tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def staff(staff_user):  # type: ignore[no-untyped-def]
    staff_user.totp_secret = SECRET
    staff_user.totp_enabled = True
    db.session.commit()
    return staff_user


def _wrong(client, times: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(times):
        client.post("/login/verify", data={"code": WRONG})


def _right(client):  # type: ignore[no-untyped-def]
    return client.post("/login/verify", data={"code": mfa.current_code(SECRET)})


def test_replaying_the_cookie_from_before_the_wrong_codes_does_not_reset_the_count(clock, client, staff):
    login(client, "staff@example.org")
    before_guessing = client.get_cookie("session").value
    _wrong(client, 4)
    client.set_cookie("session", before_guessing)  # the cookie that still said "0 failures"
    _wrong(client, 1)
    client.set_cookie("session", before_guessing)
    _right(client)
    assert not signed_in(client)


def test_entering_the_password_again_does_not_give_five_more_guesses(clock, client, staff):
    login(client, "staff@example.org")
    _wrong(client, 4)
    login(client, "staff@example.org")
    _wrong(client, 1)
    login(client, "staff@example.org")
    response = _right(client)
    assert not signed_in(client)
    assert response.headers["Location"] == "/login"
    assert "Too many wrong security codes" in client.get("/login").get_data(as_text=True)


def test_the_owner_signs_in_once_the_lock_has_passed_and_a_right_code_resets_the_count(clock, client, staff):
    login(client, "staff@example.org")
    _wrong(client, 5)
    clock.shift(timedelta(minutes=mfa.LOCK_MINUTES, seconds=1))
    login(client, "staff@example.org")
    _wrong(client, 4)
    _right(client)
    assert signed_in(client)
    db.session.refresh(staff)
    assert staff.mfa_failures == 0
