"""Sessions end for real: sign-out, sign out everywhere, password change, timeouts, remember me."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm.accounts.session import REMEMBER_COOKIE
from crm.extensions import db
from tests.accounts.conftest import is_signed_in, login
from tests.fixtures import PASSWORD, make_user, sign_in_as


def _copy_cookies(source, target) -> None:  # type: ignore[no-untyped-def]
    for name in ("session", REMEMBER_COOKIE):
        cookie = source.get_cookie(name)
        if cookie is not None:
            target.set_cookie(name, cookie.value)


def test_sign_out_kills_a_copied_session_cookie(app, client, member):
    login(client, "member@example.org")
    thief = app.test_client()
    _copy_cookies(client, thief)
    assert is_signed_in(thief)
    assert client.post("/logout").status_code == 302
    assert not is_signed_in(client)
    assert not is_signed_in(thief)


def test_sign_out_is_post_only(client, member):
    login(client, "member@example.org")
    assert client.get("/logout").status_code == 405
    assert is_signed_in(client)


def test_password_change_ends_other_sessions_but_keeps_this_one(app, client, member):
    login(client, "member@example.org")
    other = app.test_client()
    login(other, "member@example.org")
    response = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert is_signed_in(client)
    assert not is_signed_in(other)
    assert login(app.test_client(), "member@example.org", "a brand new passphrase").status_code == 302


def test_password_change_needs_the_current_password(client, member):
    login(client, "member@example.org")
    response = client.post(
        "/account/password",
        data={
            "current_password": "not my password",
            "password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert response.status_code == 200
    assert "Your current password is not right" in response.get_data(as_text=True)
    assert login(client, "member@example.org").status_code == 302


def test_sign_out_everywhere_ends_every_session(app, client, member):
    login(client, "member@example.org")
    other = app.test_client()
    login(other, "member@example.org", remember="y")
    client.post("/logout/everywhere")
    assert not is_signed_in(client)
    assert not is_signed_in(other)


def test_idle_member_must_sign_in_again(clock, client, member):
    login(client, "member@example.org")
    clock.shift(timedelta(minutes=110))
    assert is_signed_in(client)  # activity restarts the idle clock
    clock.shift(timedelta(minutes=110))
    assert is_signed_in(client)
    clock.shift(timedelta(hours=2, minutes=1))
    assert not is_signed_in(client)


def test_staff_session_ends_at_the_absolute_limit_even_while_active(clock, client, staff_user):
    sign_in_as(client, staff_user)
    for _ in range(11):
        clock.shift(timedelta(hours=1))
        assert client.get("/_test/staff-only").status_code == 200
    clock.shift(timedelta(hours=1, minutes=1))
    response = client.get("/_test/staff-only")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_remember_me_brings_a_member_back_after_the_idle_timeout(clock, client, member):
    login(client, "member@example.org", remember="y")
    cookie = client.get_cookie(REMEMBER_COOKIE)
    assert cookie is not None and cookie.http_only
    clock.shift(timedelta(days=3))
    client.delete_cookie("session")
    assert is_signed_in(client)
    clock.shift(timedelta(days=15))
    client.delete_cookie("session")
    assert not is_signed_in(client)


def test_remembered_session_must_sign_in_again_to_change_password(clock, client, member):
    login(client, "member@example.org", remember="y")
    clock.shift(timedelta(hours=5))
    client.delete_cookie("session")
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/account/password")
    assert client.get("/login").status_code == 200  # the form, not a redirect loop


def test_sign_out_kills_the_remember_me_cookie_too(app, client, member):
    login(client, "member@example.org", remember="y")
    thief = app.test_client()
    thief.set_cookie(REMEMBER_COOKIE, client.get_cookie(REMEMBER_COOKIE).value)
    assert is_signed_in(thief)
    client.post("/logout")
    fresh_thief = app.test_client()
    fresh_thief.set_cookie(
        REMEMBER_COOKIE,
        client.get_cookie(REMEMBER_COOKIE).value if client.get_cookie(REMEMBER_COOKIE) else "x",
    )
    assert not is_signed_in(app.test_client())
    thief.delete_cookie("session")
    assert not is_signed_in(thief)


def test_staff_never_get_a_remember_me_cookie(app, client, staff_user):
    from tests.accounts.test_mfa import pass_second_factor

    login(client, "staff@example.org", remember="y")
    pass_second_factor(client, staff_user)
    assert client.get_cookie(REMEMBER_COOKIE) is None


def test_a_role_change_to_staff_needs_the_second_factor(client, member):
    login(client, "member@example.org")
    member.role = "editor"
    from crm.extensions import db

    db.session.commit()
    response = client.get("/_test/staff-only")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert not is_signed_in(client)


def test_session_cookie_flags(client, member):
    response = login(client, "member@example.org")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_the_session_check_reads_the_membership_status_and_finds_nothing_for_a_revoked_row(app):
    """The per-request session check (one Core statement, crm.accounts.session._session_check):
    the user's plain values with their latest membership's status ("" for a contact who never
    joined), nothing for a revoked or unknown session."""
    from sqlalchemy import update

    from crm.accounts.models import UserSession
    from crm.accounts.session import _session_check, new_session_row
    from crm.accounts.tokens import hash_token
    from tests.members_area.factories import make_membership, make_plan

    user = make_user("hot@example.org")
    make_membership(user.contact, make_plan(), "active")
    raw = new_session_row(user)
    never_joined = make_user("never@example.org")
    raw_never = new_session_row(never_joined)
    db.session.commit()

    def check(token_hash: str, user_id: int = user.id):  # built once; the ids are its parameters
        return db.session.execute(_session_check(), {"user_id": user_id, "token_hash": token_hash}).first()

    found = check(hash_token(raw))
    assert found is not None and found.id == user.id and found.latest_status == "active"
    assert found.role == "member" and found.session_version == user.session_version
    assert check(hash_token(raw_never), never_joined.id).latest_status == ""
    assert check(hash_token(raw), never_joined.id) is None  # another user's session row
    assert check(hash_token("not a session")) is None
    db.session.execute(update(UserSession).values(revoked_at=db.func.now()))
    db.session.commit()
    assert check(hash_token(raw)) is None


@pytest.mark.new_app
def test_the_signed_in_user_loads_the_rest_on_use_and_saves_changes_made_to_its_account(app, client, member):
    """The session check reads plain values only: what it did not read loads (the ORM `User`) on
    first use, a change made to the account is saved, and one made to the signed-in user itself
    is refused rather than lost."""
    from dataclasses import FrozenInstanceError

    from flask_login import current_user

    from crm.accounts.models import User

    @app.post("/_test/rename")
    def _rename():  # type: ignore[no-untyped-def]
        before = f"{current_user.contact.first_name}|{current_user.email}|{current_user.totp_enabled}"
        current_user.contact.first_name = "Renamed"
        current_user.account.last_login_at = None
        refused = "not refused"
        try:
            current_user.role = "admin"
        except FrozenInstanceError:
            refused = "refused"
        db.session.commit()
        return f"{before}|{refused}"

    first_name = member.contact.first_name
    login(client, "member@example.org")
    response = client.post("/_test/rename")
    assert response.status_code == 200
    assert response.text == f"{first_name}|member@example.org|False|refused"
    db.session.expire_all()
    user = db.session.scalar(db.select(User).where(User.id == member.id))
    assert user.contact.first_name == "Renamed"
    assert user.last_login_at is None


def _as_a_new_request(call):  # type: ignore[no-untyped-def]
    """Run `call` in another thread, outside the test's app context: the request then starts
    with no ORM session, as every request does in production."""
    import threading

    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = call()
        except BaseException as error:  # noqa: BLE001  (re-raised in the test's thread)
            out["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


@pytest.mark.new_app
def test_on_a_request_that_starts_without_an_orm_session_the_user_still_loads_saves_and_is_one_object(
    app, client, member
):
    from flask_login import current_user

    from crm.accounts.models import User

    first_name = member.contact.first_name

    @app.get("/_test/names")
    def _names():  # type: ignore[no-untyped-def]
        return f"{current_user.contact.first_name}|{current_user.email}|{current_user.totp_enabled}"

    @app.post("/_test/change-first")
    def _change_first():  # type: ignore[no-untyped-def]
        current_user.account.last_login_at = None  # loaded by the change: nothing read it before
        db.session.commit()
        return "ok"

    @app.get("/_test/same-object")
    def _same_object():  # type: ignore[no-untyped-def]
        return str(db.session.get(User, current_user.id) is current_user.account)

    @app.get("/_test/menu-only")
    def _menu_only():  # type: ignore[no-untyped-def]
        return f"{current_user.role}|{current_user.is_authenticated}"

    login(client, "member@example.org")
    assert db.session.get(User, member.id).last_login_at is not None
    db.session.remove()
    assert _as_a_new_request(lambda: client.get("/_test/menu-only").text) == "member|True"
    assert (
        _as_a_new_request(lambda: client.get("/_test/names").text) == f"{first_name}|member@example.org|False"
    )
    assert _as_a_new_request(lambda: client.get("/_test/same-object").text) == "True"
    assert _as_a_new_request(lambda: client.post("/_test/change-first").text) == "ok"
    db.session.remove()
    assert db.session.get(User, member.id).last_login_at is None
