"""Controls 4-14: rate limits, no enumeration, password storage and policy, reset tokens,
cookies, new session at sign-in, sign-out and revocation, timeouts."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from argon2 import PasswordHasher
from sqlalchemy import select

from crm import create_app
from crm.accounts.models import AuthToken, User
from crm.accounts.passwords import password_problem, verify_password
from crm.extensions import db
from tests.fixtures import PASSWORD, make_user, sign_in_as
from tests.security.helpers import (
    REDIS_URL,
    link_in,
    login,
    outbox,
    redis_or_skip,
    signed_in,
    without_csrf,
)

START = datetime(2030, 3, 4, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def cheap_hashes(member):  # type: ignore[no-untyped-def]
    """Rate-limit tests count attempts, not argon2 cost: the testing configuration hashes cheaply."""
    return member


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _fail(client, email, ip="198.51.100.7"):  # type: ignore[no-untyped-def]
    return client.post(
        "/login", data={"email": email, "password": "wrong password here"}, headers={"X-Forwarded-For": ip}
    )


# --- 4 and 5: rate limits ----------------------------------------------------------------------


def test_sixth_failed_login_for_one_email_is_429_even_with_changing_forwarded_for(
    clock, client, cheap_hashes
):
    for n in range(5):
        assert _fail(client, "member@example.org", ip=f"203.0.113.{n}").status_code == 200
    assert _fail(client, "MEMBER@example.org", ip="203.0.113.200").status_code == 429
    clock.shift(timedelta(seconds=61))
    assert login(client, "member@example.org").status_code == 302


def test_the_login_limit_is_a_moving_window_not_reset_at_the_minute_boundary(app, cheap_hashes):
    client = app.test_client()
    with time_machine.travel(datetime(2030, 3, 4, 9, 0, 58, tzinfo=UTC), tick=False) as clock:
        for _ in range(5):
            assert _fail(client, "member@example.org").status_code == 200
        clock.shift(timedelta(seconds=4))  # a new clock minute, but not 60 s since the failures
        assert _fail(client, "member@example.org").status_code == 429


def test_twenty_one_failed_logins_from_one_ip_are_429(clock, app, cheap_hashes):
    client = app.test_client()
    for n in range(20):
        assert _fail(client, f"nobody{n % 4}@example.org").status_code == 200
    assert _fail(client, "someone@example.org").status_code == 429


def test_a_blocked_account_can_still_sign_in_from_another_ip_once_the_minute_passes(clock, app, cheap_hashes):
    """Documented policy: the per-account block lasts one minute, so no lasting malicious lockout."""
    attacker = app.test_client()
    for _ in range(6):
        _fail(attacker, "member@example.org")
    clock.shift(timedelta(seconds=61))
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "192.0.2.50"
    assert login(owner, "member@example.org").status_code == 302


def test_fourth_reset_request_in_an_hour_sends_no_more_email_and_shows_the_same_page(clock, client, member):
    pages = [client.post("/password/reset", data={"email": "member@example.org"}) for _ in range(4)]
    assert [p.status_code for p in pages] == [200] * 4
    assert len(outbox("reset_password")) == 3
    assert without_csrf(pages[2].get_data(as_text=True)) == without_csrf(pages[3].get_data(as_text=True))


def test_thirty_token_guesses_a_minute_are_429(clock, client):
    statuses = [client.post("/login/link/guess" + uuid.uuid4().hex).status_code for _ in range(30)]
    assert 429 in statuses
    assert set(statuses) <= {410, 429}


def test_join_posts_are_rate_limited(clock, client):
    statuses = [client.post("/join", data={"email": "x"}).status_code for _ in range(31)]
    assert statuses[-1] == 429


@pytest.mark.redis
def test_login_limit_in_redis_is_shared_by_two_apps(app, cheap_hashes):
    """The worker's Redis database is its own (tests/redis_db.py); no key prefix (Flask-Limiter keeps the first one it sees)."""
    redis = redis_or_skip()
    redis.flushdb()
    config = {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
    }
    one, two = (create_app("testing", **config).test_client() for _ in range(2))
    try:
        for n in range(5):
            assert _fail(one if n % 2 else two, "member@example.org").status_code == 200
        assert redis.dbsize() > 0
        assert _fail(one, "member@example.org").status_code == 429
        assert _fail(two, "member@example.org").status_code == 429
    finally:
        redis.flushdb()


# --- 7 and 8: password storage and policy ----------------------------------------------------------


def test_passwords_are_stored_as_argon2id_with_strong_parameters_and_never_in_clear(
    app, client, caplog, monkeypatch
):
    for key, value in {"TIME_COST": 3, "MEMORY_COST": 65536, "PARALLELISM": 4}.items():
        monkeypatch.setitem(app.config, f"PASSWORD_HASH_{key}", value)  # production strength
    caplog.set_level("DEBUG")
    user = make_user("fresh@example.org", password="a very private passphrase 42")
    params = dict(p.split("=") for p in user.password_hash.split("$")[3].split(","))
    assert user.password_hash.startswith("$argon2id$")
    assert int(params["m"]) >= 19456 and int(params["t"]) >= 2
    login(client, "fresh@example.org", "a very private passphrase 42")
    login(client, "fresh@example.org", "a very private passphrase 43")
    from tests.security.conftest import snapshot  # noqa: F401  (dump below)

    dump = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            dump.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    assert not any("a very private passphrase" in row for row in dump)
    assert "a very private passphrase" not in caplog.text


def test_an_old_weaker_hash_is_upgraded_at_the_next_sign_in(app, client):
    user = make_user("old@example.org")
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    db.session.commit()
    assert login(client, "old@example.org").status_code == 302
    db.session.expire_all()
    upgraded = db.session.get(User, user.id).password_hash
    assert "m=8192" not in upgraded and verify_password(upgraded, PASSWORD)


@pytest.mark.parametrize(
    ("password", "accepted"),
    [("short12", False), ("x" * 64, True), ("y" * 128, True), ("password123", False), ("Qwertyuiop1", None)],
)
def test_password_policy_length_and_common_list_without_composition_rules(password, accepted):
    problem = password_problem(password)
    if accepted is None:  # on the shipped list or not: only length/commonness decide
        assert problem is None or "common" in problem
    else:
        assert (problem is None) is accepted


def test_long_passwords_with_trailing_spaces_and_case_verify_exactly(app, client):
    password = "Correct Horse Battery Staple " * 4 + "  "
    make_user("spaces@example.org", password=password)
    assert login(client, "spaces@example.org", password.rstrip()).status_code == 200
    assert login(client, "spaces@example.org", password.lower()).status_code == 200
    assert login(client, "spaces@example.org", password).status_code == 302


# --- 9: changing the password ------------------------------------------------------------------------


@pytest.mark.parametrize("current", ["", "not my password"])
def test_password_change_needs_the_current_password(app, member_client, member, current):
    before = member.password_hash
    response = member_client.post(
        "/account/password",
        data={
            "current_password": current,
            "password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, member.id).password_hash == before


def test_a_remembered_session_must_sign_in_again_to_change_email_or_password(clock, app, member):
    client = app.test_client()
    login(client, "member@example.org", remember="y")
    clock.shift(timedelta(hours=3))  # idle timeout passed: only "remember me" brings the member back
    assert client.get("/account").status_code == 200
    response = client.get("/account/password")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    details = client.get("/account/details").get_data(as_text=True)
    assert "member@example.org" in details
    response = client.post("/account/details", data={"email": "new@example.org"})
    db.session.expire_all()
    assert db.session.get(User, member.id).contact.email == "member@example.org"


# --- 10: reset tokens -------------------------------------------------------------------------------------


def _reset_link(client, email="member@example.org", host=None):  # type: ignore[no-untyped-def]
    headers = {"Host": host} if host else {}
    client.post("/password/reset", data={"email": email}, headers=headers)
    return link_in(outbox("reset_password")[-1], "http://crm.test/password/reset/")


def test_reset_token_is_long_random_and_stored_only_as_sha256(clock, client, member):
    link = _reset_link(client)
    raw = link.rsplit("/", 1)[1]
    assert len(raw) >= 43  # 32 random bytes, base64url
    hashes = db.session.scalars(select(AuthToken.token_hash)).all()
    assert hashlib.sha256(raw.encode()).hexdigest() in hashes
    assert raw not in repr(hashes)


def test_reset_token_works_once_expires_and_is_replaced_by_a_newer_one(clock, client, member):
    first = _reset_link(client)
    second = _reset_link(client)
    path = lambda link: link.replace("http://crm.test", "")  # noqa: E731
    new = {"password": "a brand new passphrase", "confirm": "a brand new passphrase"}
    assert client.post(path(first), data=new).status_code == 410  # replaced by the newer one
    assert client.post(path(second), data=new).status_code == 302
    assert client.post(path(second), data=new).status_code == 410  # used
    third = _reset_link(client)
    clock.shift(timedelta(minutes=61))
    assert client.post(path(third), data=new).status_code == 410  # expired


def test_successful_reset_does_not_sign_in_notifies_and_ends_other_sessions(clock, app, member):
    browser = app.test_client()
    assert login(browser, "member@example.org").status_code == 302
    other = app.test_client()
    link = _reset_link(other).replace("http://crm.test", "")
    page = other.get(link)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    response = other.post(
        link, data={"password": "a brand new passphrase", "confirm": "a brand new passphrase"}
    )
    assert "/login" in response.headers["Location"]
    assert not signed_in(other)
    assert not signed_in(browser)  # the old cookie is dead
    assert len(outbox("password_changed")) == 1


def test_emailed_reset_link_ignores_a_forged_host_header(clock, client, member):
    link = _reset_link(client, host="evil.example")
    assert link.startswith("http://crm.test/")
    assert "evil.example" not in outbox("reset_password")[-1].body_text


# --- 11: cookies in production ---------------------------------------------------------------------------


@pytest.fixture
def production_app(app, monkeypatch):  # type: ignore[no-untyped-def]
    env = {
        "SECRET_KEY": "p" * 40,
        "DATABASE_URL": "postgresql://crm@db.internal/crm",  # the test database is passed below
        "ORG_NAME": "Members of an Example Charity",
        "ORG_ADDRESS": "1 Real Street, London N1 1AA",
        "ORG_CHARITY_NUMBER": "7654321",
        "STRIPE_SECRET_KEY": "sk_test_fake_for_tests",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_fake_for_tests",
        "STRIPE_WEBHOOK_SECRET": "whsec_fake_for_tests",
        "STRIPE_API_BASE": "https://127.0.0.1:9",
        "BASE_URL": "https://crm.example.org",
        "MAIL_SERVER": "127.0.0.1",
        "REDIS_URL": "",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    prod = create_app(
        "production",
        RATELIMIT_STORAGE_URI="memory://",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
    )
    return prod


def test_production_cookies_are_secure_httponly_lax_host_wide(production_app, member):
    from tests.fixtures import csrf_token

    client = production_app.test_client()
    token = csrf_token(client, "https://crm.example.org/login")
    response = client.post(
        "https://crm.example.org/login",
        data={"email": "member@example.org", "password": PASSWORD, "remember": "y", "csrf_token": token},
        headers={"Referer": "https://crm.example.org/login"},
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    by_name = {c.split("=", 1)[0]: c for c in cookies}
    for name in ("session", "crm_remember"):
        cookie = by_name[name]
        for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
            assert flag in cookie, (name, cookie)
        assert "Domain=" not in cookie
    assert production_app.config["DEBUG"] is False


# --- 12, 13, 14: sessions ------------------------------------------------------------------------------------


def test_signing_in_starts_a_new_session_and_drops_what_was_stored_before(app, client, member):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["sid"] = "attacker-chosen-id"
    login(client, "member@example.org")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["sid"] != "attacker-chosen-id"


def _replay(app, cookie):  # type: ignore[no-untyped-def]
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    response = thief.get("/account")
    return response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("how", ["sign out", "password change", "disabled by staff", "sign out everywhere"])
def test_a_copied_session_cookie_dies_when_the_session_ends(app, member, how):
    client = app.test_client()
    login(client, "member@example.org")
    copied = client.get_cookie("session").value
    assert not _replay(app, copied)
    if how == "sign out":
        client.post("/logout")
    elif how == "password change":
        other = app.test_client()
        login(other, "member@example.org")
        other.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "password": "another new passphrase",
                "confirm": "another new passphrase",
            },
        )
    elif how == "disabled by staff":
        db.session.get(User, member.id).disabled = True
        db.session.commit()
    else:
        client.post("/logout/everywhere")
    assert _replay(app, copied)


def test_an_idle_member_must_sign_in_again(clock, app, member):
    client = app.test_client()
    login(client, "member@example.org")
    clock.shift(timedelta(minutes=119))
    assert signed_in(client)
    clock.shift(timedelta(minutes=121))
    assert not signed_in(client)


def test_a_staff_session_ends_at_the_absolute_limit_even_while_active(clock, app, staff_user):
    client = sign_in_as(app.test_client(), staff_user)
    for _ in range(11):
        clock.shift(timedelta(hours=1))
        assert client.get("/staff").status_code == 200
    clock.shift(timedelta(hours=1, minutes=1))
    response = client.get("/staff")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
