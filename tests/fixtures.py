"""Shared test helpers: data factories (on tests/factories.py) and signed-in clients."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from crm.accounts.models import User
from crm.contacts import consent
from crm.contacts.models import Contact
from crm.extensions import db
from tests.factories import PASSWORD, ContactFactory, UserFactory


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the form at `path`, as a browser would read it."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def make_contact(email: str = "ana@example.org", **fields: object) -> Contact:
    consents = {
        "news": bool(fields.pop("email_consent", False)),
        "appeals": bool(fields.pop("appeals_consent", False)),
    }
    contact = ContactFactory(email=email, **fields)
    for purpose, granted in consents.items():
        if granted:  # through the one module that writes consent, as every production path does
            consent.record_consent(
                contact, "email", purpose, True, source="staff_phone", wording="Test consent"
            )
    return contact


def make_user(
    email: str = "ana@example.org", role: str = "member", password: str = PASSWORD, **contact_fields: object
) -> User:
    # The app's hasher: cheap under the testing configuration, production strength where a test
    # module asks for it (tests/security/test_enumeration.py).
    user = UserFactory(contact=make_contact(email, **contact_fields), role=role, password=password)
    db.session.commit()
    return user


def sign_in_as(client: FlaskClient, user: User) -> FlaskClient:
    """Sign in without the form (tests of other features); staff get their second factor done."""
    from crm.accounts.session import new_session_row

    sid = new_session_row(user)  # the server-side session row the user loader checks
    db.session.commit()
    with client.session_transaction() as session:
        session["sid"] = sid
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session["mfa_ok"] = True
        from crm.core.types import utcnow

        session["login_at"] = utcnow().timestamp()
    return client


@pytest.fixture
def member(app):  # type: ignore[no-untyped-def]
    return make_user("member@example.org", "member")


@pytest.fixture
def staff_user(app):  # type: ignore[no-untyped-def]
    return make_user("staff@example.org", "staff", first_name="Sasha", last_name="Staff")


@pytest.fixture
def admin_user(app):  # type: ignore[no-untyped-def]
    return make_user("admin@example.org", "admin", first_name="Alex", last_name="Admin")


@pytest.fixture
def editor_user(app):  # type: ignore[no-untyped-def]
    return make_user("editor@example.org", "editor", first_name="Eddie", last_name="Editor")


@pytest.fixture
def member_client(client, member):  # type: ignore[no-untyped-def]
    return sign_in_as(client, member)


@pytest.fixture
def staff_client(client, staff_user):  # type: ignore[no-untyped-def]
    return sign_in_as(client, staff_user)


@pytest.fixture
def admin_client(client, admin_user):  # type: ignore[no-untyped-def]
    return sign_in_as(client, admin_user)


@pytest.fixture
def editor_client(client, editor_user):  # type: ignore[no-untyped-def]
    return sign_in_as(client, editor_user)
