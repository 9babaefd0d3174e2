"""The session cookie (crm.accounts.cookie): a cookie whose signature checked out is remembered by
its exact value, and that must never make a cookie good that Flask's own check would refuse."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, request
from flask.sessions import SecureCookieSession

from crm.accounts.cookie import CookieSessionInterface
from tests.accounts.conftest import is_signed_in, login


def _open(app: Flask, interface: CookieSessionInterface, value: str) -> SecureCookieSession:
    with app.test_request_context(headers={"Cookie": f"{interface.get_cookie_name(app)}={value}"}):
        session = interface.open_session(app, request)
    assert session is not None
    return session


def _signed(app: Flask, interface: CookieSessionInterface, contents: dict[str, object]) -> str:
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None
    return serializer.dumps(contents)


def test_a_tampered_session_cookie_is_refused_after_the_real_one_was_used(app, client, member):
    login(client, "member@example.org")
    assert is_signed_in(client)  # the real cookie is now remembered
    real = client.get_cookie("session").value
    payload, _, signature = real.rpartition(".")
    forged = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    client.set_cookie("session", forged)
    assert not is_signed_in(client)
    client.set_cookie("session", real)
    assert is_signed_in(client)


def test_a_remembered_cookie_is_refused_once_older_than_the_session_lifetime(app, clock):
    interface = app.session_interface
    value = _signed(app, interface, {"sid": "abc"})
    assert dict(_open(app, interface, value)) == {"sid": "abc"}
    assert dict(_open(app, interface, value)) == {"sid": "abc"}  # from memory
    clock.shift(app.permanent_session_lifetime - timedelta(seconds=1))
    assert dict(_open(app, interface, value)) == {"sid": "abc"}
    clock.shift(timedelta(seconds=2))
    assert dict(_open(app, interface, value)) == {}


def test_what_one_request_changes_in_its_session_never_reaches_the_next_with_the_same_cookie(app):
    interface = app.session_interface
    plain = _signed(app, interface, {"sid": "abc", "mfa_ok": False})
    first = _open(app, interface, plain)
    first["mfa_ok"] = True
    first["sid"] = "changed"
    assert dict(_open(app, interface, plain)) == {"sid": "abc", "mfa_ok": False}

    with_flashes = _signed(app, interface, {"_flashes": [["info", "Saved."]]})
    first = _open(app, interface, with_flashes)
    first["_flashes"].append(["info", "Another."])
    first["_flashes"].pop(0)
    assert dict(_open(app, interface, with_flashes)) == {"_flashes": [["info", "Saved."]]}


def test_a_cookie_signed_with_an_old_secret_key_is_refused_after_the_key_changes(app):
    interface = app.session_interface
    old_key = app.secret_key
    value = _signed(app, interface, {"sid": "abc"})
    assert dict(_open(app, interface, value)) == {"sid": "abc"}
    app.secret_key = "a-new-secret-key-that-is-long-enough-1234567890"
    assert dict(_open(app, interface, value)) == {}
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]  # key rotation: old cookies still good
    assert dict(_open(app, interface, value)) == {"sid": "abc"}
