"""`flask crm create-user` and `flask crm totp-code`."""

from __future__ import annotations

from crm.accounts import mfa
from crm.accounts.models import User
from crm.extensions import db
from tests.accounts.conftest import login
from tests.fixtures import make_user


def test_create_user_reads_the_password_from_stdin(runner, client):
    result = runner.invoke(
        args=["crm", "create-user", "Sam@Example.org", "--role", "staff"], input="a long staff password\n"
    )
    assert result.exit_code == 0, result.output
    assert "a long staff password" not in result.output
    user = db.session.scalars(db.select(User)).one()
    assert user.role == "staff" and user.email == "sam@example.org"
    assert user.password_hash.startswith("$argon2id$")
    assert login(client, "sam@example.org", "a long staff password").headers["Location"] == "/login/enrol"


def test_create_user_refuses_weak_passwords_bad_roles_and_duplicates(runner, app):
    weak = runner.invoke(
        args=["crm", "create-user", "a@example.org", "--role", "admin"], input="password123\n"
    )
    assert weak.exit_code != 0 and "too common" in weak.output
    short = runner.invoke(args=["crm", "create-user", "a@example.org"], input="short\n")
    assert short.exit_code != 0 and "at least 10" in short.output
    role = runner.invoke(
        args=["crm", "create-user", "a@example.org", "--role", "king"], input="a long password ok\n"
    )
    assert role.exit_code != 0
    make_user("taken@example.org")
    taken = runner.invoke(args=["crm", "create-user", "taken@example.org"], input="a long password ok\n")
    assert taken.exit_code != 0 and "already has an account" in taken.output
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_totp_code_prints_the_current_code_but_not_in_production(runner, app):
    user = make_user("admin@example.org", "admin")
    user.totp_secret = mfa.new_secret()
    user.totp_enabled = True
    db.session.commit()
    result = runner.invoke(args=["crm", "totp-code", "admin@example.org"])
    assert result.exit_code == 0
    assert result.output.strip() == mfa.current_code(user.totp_secret)
    app.config["ENV_NAME"] = "production"
    refused = runner.invoke(args=["crm", "totp-code", "admin@example.org"])
    assert refused.exit_code != 0 and "development" in refused.output
