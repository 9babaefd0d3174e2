"""Control 6: no account enumeration, by answer or by time (a dummy argon2 check for unknown emails)."""

from __future__ import annotations

import gc

import pytest

from tests.security.helpers import login, median_times, without_csrf


@pytest.fixture
def app_config() -> dict[str, object]:
    # Production-strength argon2 (the testing configuration hashes cheaply): the timing checks
    # below compare a real hash with the dummy one.
    return {
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "PASSWORD_HASH_TIME_COST": 3,
        "PASSWORD_HASH_MEMORY_COST": 65536,
        "PASSWORD_HASH_PARALLELISM": 4,
    }


def _timed_same(calls, tries=8, rounds=3):  # type: ignore[no-untyped-def]
    """Medians within 20 %. A real gap (no dummy argon2 check) fails every round; a burst of noise
    on a shared 2-core CI machine gets up to two more rounds."""
    seen = []
    for _ in range(rounds):
        gc.disable()
        try:
            medians = median_times(calls, tries)
        finally:
            gc.enable()
        known, unknown = medians.values()
        seen.append(medians)
        if abs(known - unknown) <= 0.2 * max(known, unknown):
            return
    raise AssertionError(f"known and unknown emails take different times: {seen}")


def test_login_with_unknown_email_and_wrong_password_look_and_take_the_same(app, member):
    known = login(app.test_client(), "member@example.org", "wrong password!!")
    unknown = login(app.test_client(), "nobody@example.org", "wrong password!!")
    assert known.status_code == unknown.status_code == 200
    assert without_csrf(known.get_data(as_text=True)).replace("member@", "X@") == without_csrf(
        unknown.get_data(as_text=True)
    ).replace("nobody@", "X@")
    client = app.test_client()
    _timed_same(
        {
            "known": lambda: login(client, "member@example.org", "wrong password!!"),
            "unknown": lambda: login(client, "nobody@example.org", "wrong password!!"),
        }
    )


def test_forgot_password_answers_the_same_for_known_and_unknown_email(app, member):
    client = app.test_client()
    known = client.post("/password/reset", data={"email": "member@example.org"}).get_data(as_text=True)
    unknown = client.post("/password/reset", data={"email": "nobody@example.org"}).get_data(as_text=True)
    assert without_csrf(known).replace("member@", "X@") == without_csrf(unknown).replace("nobody@", "X@")
    _timed_same(
        {
            "known": lambda: client.post("/password/reset", data={"email": "member@example.org"}),
            "unknown": lambda: client.post("/password/reset", data={"email": "nobody@example.org"}),
        }
    )
