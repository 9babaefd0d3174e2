"""Emailed links: welcome set-password (24 h), sign-in link (15 min), reset (60 min); each once."""

from __future__ import annotations

from datetime import timedelta

from crm.accounts import tokens
from crm.accounts.models import AuthToken, User
from crm.accounts.services import ensure_member_account, send_welcome_email
from crm.audit.models import AuditEvent
from crm.extensions import db
from tests.accounts.conftest import is_signed_in, link_in, login, outbox
from tests.fixtures import PASSWORD, make_contact
from tests.sent_mail import sent_text

NEW = "a long new passphrase"


def test_issue_and_consume_once(app, member):
    raw = tokens.issue_token(tokens.RESET_PASSWORD, user=member, ttl=timedelta(minutes=5))
    stored = db.session.scalars(db.select(AuthToken)).one()
    assert stored.token_hash != raw and len(stored.token_hash) == 64
    assert tokens.consume_token(tokens.RESET_PASSWORD, raw).user_id == member.id
    assert tokens.consume_token(tokens.RESET_PASSWORD, raw) is None


def test_token_of_another_purpose_or_expired_is_refused(clock, app, member):
    raw = tokens.issue_token(tokens.LOGIN_LINK, user=member, ttl=tokens.LOGIN_LINK_TTL)
    assert tokens.consume_token(tokens.RESET_PASSWORD, raw) is None
    clock.shift(timedelta(minutes=15, seconds=1))
    assert tokens.consume_token(tokens.LOGIN_LINK, raw) is None


def test_a_new_token_invalidates_the_older_one(app, member):
    first = tokens.issue_token(tokens.RESET_PASSWORD, user=member, ttl=timedelta(hours=1))
    second = tokens.issue_token(tokens.RESET_PASSWORD, user=member, ttl=timedelta(hours=1))
    assert tokens.consume_token(tokens.RESET_PASSWORD, first) is None
    assert tokens.consume_token(tokens.RESET_PASSWORD, second) is not None


def test_welcome_email_once_with_a_24_hour_set_password_link(clock, client, app):
    user = ensure_member_account(make_contact("new@example.org"))
    assert ensure_member_account(user.contact) is user and user.password_hash == ""
    send_welcome_email(user)
    send_welcome_email(user)
    db.session.commit()
    [message] = outbox("welcome")
    path = link_in(message, "/password/set/")
    clock.shift(timedelta(hours=23))
    assert "Set your password" in client.get(path).get_data(as_text=True)
    clock.shift(timedelta(hours=1, seconds=1))
    expired = client.get(path)
    assert expired.status_code == 410
    assert "Email me a new link" in expired.get_data(as_text=True)


def test_welcome_link_sets_the_password_signs_in_and_works_once(client, app):
    user = ensure_member_account(make_contact("new@example.org"))
    send_welcome_email(user)
    db.session.commit()
    path = link_in(outbox("welcome")[0], "/password/set/")
    assert client.get(path).headers["Referrer-Policy"] == "no-referrer"
    weak = client.post(path, data={"password": "short", "confirm": "short"})
    assert "at least 10 characters" in weak.get_data(as_text=True)
    assert client.post(path, data={"password": NEW, "confirm": NEW}).status_code == 302
    assert is_signed_in(client)
    assert client.post(path, data={"password": NEW, "confirm": NEW}).status_code == 410


def test_staff_resend_sends_a_new_link_and_the_old_one_dies(client, app):
    user = ensure_member_account(make_contact("new@example.org"))
    send_welcome_email(user)
    send_welcome_email(user, resend=True)
    db.session.commit()
    first, second = outbox("welcome")
    assert client.get(link_in(first, "/password/set/")).status_code == 410
    assert client.get(link_in(second, "/password/set/")).status_code == 200


def test_sign_in_link_needs_the_button_and_works_once(clock, app, client, member):
    page = client.post("/login/link", data={"email": "member@example.org"}).get_data(as_text=True)
    assert "Check your email" in page
    path = link_in(outbox("login_link")[0], "/login/link/")
    scanner = app.test_client()
    for _ in range(3):
        assert scanner.get(path).status_code == 200  # a mail scanner opening it changes nothing
    assert not is_signed_in(scanner)
    assert client.post(path).status_code == 302
    assert is_signed_in(client)
    assert app.test_client().post(path).status_code == 410


def test_sign_in_link_expires_after_15_minutes(clock, client, member):
    client.post("/login/link", data={"email": "member@example.org"})
    path = link_in(outbox("login_link")[0], "/login/link/")
    clock.shift(timedelta(minutes=15, seconds=1))
    response = client.post(path)
    assert response.status_code == 410
    assert "Email me a new sign-in link" in response.get_data(as_text=True)
    assert not is_signed_in(client)


def test_sign_in_link_never_creates_an_account_and_answers_the_same(client, member):
    make_contact("supporter@example.org")
    db.session.commit()
    known = client.post("/login/link", data={"email": "member@example.org"}).get_data(as_text=True)
    unknown = client.post("/login/link", data={"email": "supporter@example.org"}).get_data(as_text=True)
    assert known.replace("member@example.org", "X") == unknown.replace("supporter@example.org", "X")
    assert len(outbox("login_link")) == 1
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_reset_answers_the_same_for_known_and_unknown_emails(client, member):
    known = client.post("/password/reset", data={"email": "member@example.org"})
    unknown = client.post("/password/reset", data={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True).replace("member@example.org", "X") == unknown.get_data(
        as_text=True
    ).replace("nobody@example.org", "X")
    assert len(outbox("reset_password")) == 1
    assert known.headers["Referrer-Policy"] == "no-referrer"


def test_fourth_reset_request_in_an_hour_sends_no_email(clock, client, member):
    for _ in range(4):
        assert client.post("/password/reset", data={"email": "member@example.org"}).status_code == 200
    assert len(outbox("reset_password")) == 3
    clock.shift(timedelta(hours=1, minutes=1))
    client.post("/password/reset", data={"email": "member@example.org"})
    assert len(outbox("reset_password")) == 4


def test_reset_changes_the_password_ends_sessions_and_does_not_sign_in(app, client, member):
    signed_in = app.test_client()
    login(signed_in, "member@example.org")
    client.post("/password/reset", data={"email": "member@example.org"})
    path = link_in(outbox("reset_password")[0], "/password/reset/")
    page = client.get(path)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    mismatch = client.post(path, data={"password": NEW, "confirm": NEW + "x"})
    assert "do not match" in mismatch.get_data(as_text=True)
    done = client.post(path, data={"password": NEW, "confirm": NEW})
    assert done.headers["Location"] == "/login"
    assert not is_signed_in(client)
    assert not is_signed_in(signed_in)
    assert len(outbox("password_changed")) == 1
    assert client.post(path, data={"password": NEW, "confirm": NEW}).status_code == 410
    assert login(client, "member@example.org", PASSWORD).status_code == 200
    assert login(client, "member@example.org", NEW).status_code == 302
    actions = set(db.session.scalars(db.select(AuditEvent.action)))
    assert {"password.reset_requested", "password.reset"} <= actions


def test_reset_link_expires_after_an_hour(clock, client, member):
    client.post("/password/reset", data={"email": "member@example.org"})
    path = link_in(outbox("reset_password")[0], "/password/reset/")
    clock.shift(timedelta(minutes=60, seconds=1))
    assert client.post(path, data={"password": NEW, "confirm": NEW}).status_code == 410


def test_links_in_emails_use_base_url_not_the_host_header(client, member):
    client.post("/password/reset", data={"email": "member@example.org"}, headers={"Host": "evil.example"})
    body = sent_text(outbox("reset_password")[0])
    assert "evil.example" not in body and "http://crm.test/password/reset/" in body


def test_invalid_token_page_is_clear(client):
    response = client.get("/password/reset/not-a-real-token")
    assert response.status_code == 410
    assert "This link no longer works" in response.get_data(as_text=True)
