"""With CSRF on (as in every other test folder): forms without a token change nothing."""

from __future__ import annotations

import pytest

from crm.accounts import tokens
from tests.accounts.conftest import is_signed_in
from tests.fixtures import PASSWORD, csrf_token


@pytest.fixture
def app_config() -> dict[str, object]:
    return {}


def test_sign_in_without_a_csrf_token_is_400(client, member):
    response = client.post("/login", data={"email": "member@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert not is_signed_in(client)
    token = csrf_token(client, "/login")
    ok = client.post(
        "/login", data={"email": "member@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert ok.status_code == 302


def test_sign_in_link_post_without_a_token_does_not_use_the_link(client, member):
    raw = tokens.issue_token(tokens.LOGIN_LINK, user=member, ttl=tokens.LOGIN_LINK_TTL)
    from crm.extensions import db

    db.session.commit()
    assert client.post(f"/login/link/{raw}").status_code == 400
    token = csrf_token(client, f"/login/link/{raw}")
    assert client.post(f"/login/link/{raw}", data={"csrf_token": token}).status_code == 302
    assert is_signed_in(client)


def test_sign_out_needs_a_csrf_token(client, member):
    token = csrf_token(client, "/login")
    client.post("/login", data={"email": "member@example.org", "password": PASSWORD, "csrf_token": token})
    assert client.post("/logout").status_code == 400
    assert is_signed_in(client)
