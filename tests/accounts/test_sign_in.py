"""Sign-in: generic failure, session renewal, audit, safe `next`, argon2 parameters and rehash."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError

from crm.accounts.models import User, UserSession
from crm.audit.models import AuditEvent
from crm.extensions import db
from tests.accounts.conftest import is_signed_in, login
from tests.fixtures import PASSWORD, make_user


def _without_csrf(html: str) -> str:
    return re.sub(r'value="[^"]*"', "", html)


def test_correct_password_signs_in_and_records_last_login(client, member):
    response = login(client, "Member@Example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert is_signed_in(client)
    db.session.expire_all()
    user = db.session.get(User, member.id)
    assert user.last_login_at is not None
    events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "login.success")).all()
    assert [e.actor_user_id for e in events] == [member.id]


def test_unknown_email_and_wrong_password_get_the_same_answer(client, member):
    unknown = login(client, "nobody@example.org", "some password here")
    wrong = login(client, "member@example.org", "some password here")
    assert unknown.status_code == wrong.status_code == 200
    assert "The email address or password is not right" in unknown.get_data(as_text=True)
    unknown_html = _without_csrf(unknown.get_data(as_text=True)).replace("nobody@example.org", "X")
    wrong_html = _without_csrf(wrong.get_data(as_text=True)).replace("member@example.org", "X")
    assert unknown_html == wrong_html
    assert not is_signed_in(client)


def test_failed_sign_in_is_audited_without_the_password(client, member):
    login(client, "member@example.org", "my-secret-guess-123")
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "login.failure")).one()
    assert event.actor_label == "member@example.org"
    assert event.ip
    everything = " ".join(str(v) for v in (event.detail, event.before, event.after, event.actor_label))
    assert "my-secret-guess-123" not in everything


def test_email_with_a_newline_does_not_forge_an_audit_line(client, member):
    login(client, "x@example.org\nlogin.success admin", "whatever password")
    for event in db.session.scalars(db.select(AuditEvent)):
        assert "\n" not in event.actor_label


def test_sign_in_renews_the_session(client, member):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["sid"] = "fixated-session-id"
    login(client, "member@example.org")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["sid"] != "fixated-session-id"
        assert session["_user_id"] == member.get_id()
    assert db.session.scalar(db.select(db.func.count(UserSession.id))) == 1


def test_form_keeps_the_email_but_not_the_password(client, member):
    html = login(client, "member@example.org", "wrong password 1").get_data(as_text=True)
    assert 'value="member@example.org"' in html
    assert "wrong password 1" not in html


@pytest.mark.parametrize(
    "target",
    ["https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", "http:/evil"],
)
def test_next_never_leaves_the_site(client, member, target):
    response = login(client, "member@example.org", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"


def test_next_on_this_site_is_honoured(client, member):
    response = client.post("/login?next=/news", data={"email": "member@example.org", "password": PASSWORD})
    assert response.headers["Location"] == "/news"


def _argon2_parameters(stored: str) -> dict[str, int]:
    assert stored.startswith("$argon2id$")
    return {key: int(value) for key, value in (p.split("=") for p in stored.split("$")[3].split(","))}


def test_production_hashes_passwords_with_argon2id_at_strong_parameters(monkeypatch):
    """The tests hash cheaply (TestConfig); the production configuration keeps full strength."""
    from crm import create_app
    from crm.accounts.passwords import hash_password
    from tests.foundation.test_config import GOOD_PRODUCTION_ENV

    for key in ("STRIPE_API_BASE", "REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in GOOD_PRODUCTION_ENV.items():
        monkeypatch.setenv(key, value)
    production = create_app("production")
    with production.app_context():
        params = _argon2_parameters(hash_password(PASSWORD))
    assert params["m"] >= 19456
    assert params["t"] >= 2
    assert params == {"m": 65536, "t": 3, "p": 4}


def test_an_old_hash_is_upgraded_at_sign_in(client, app, monkeypatch):
    for key, value in {"TIME_COST": 3, "MEMORY_COST": 65536, "PARALLELISM": 4}.items():
        monkeypatch.setitem(app.config, f"PASSWORD_HASH_{key}", value)  # production strength
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user = make_user("old@example.org")
    user.password_hash = weak
    db.session.commit()
    assert login(client, "old@example.org").status_code == 302
    db.session.expire_all()
    upgraded = db.session.get(User, user.id).password_hash
    assert upgraded != weak
    assert "m=65536,t=3" in upgraded
    PasswordHasher().verify(upgraded, PASSWORD)


def test_a_member_without_a_password_cannot_sign_in_with_an_empty_one(client, app):
    user = make_user("nopass@example.org")
    user.password_hash = ""
    db.session.commit()
    assert login(client, "nopass@example.org", "").status_code == 200
    assert login(client, "nopass@example.org", "anything at all").status_code == 200
    assert not is_signed_in(client)


def test_a_disabled_account_cannot_sign_in(client, member):
    member.disabled = True
    db.session.commit()
    login(client, "member@example.org")
    assert not is_signed_in(client)


def test_garbage_hash_is_a_failed_sign_in_not_an_error(client, app):
    user = make_user("garbage@example.org")
    user.password_hash = "not-a-hash"
    db.session.commit()
    with pytest.raises(InvalidHashError):
        PasswordHasher().verify("not-a-hash", PASSWORD)
    assert login(client, "garbage@example.org").status_code == 200
