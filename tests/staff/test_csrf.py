"""The member actions need a CSRF token (this module turns CSRF back on)."""

from __future__ import annotations

import pytest

from crm.contacts.models import Contact
from crm.extensions import db
from tests.fixtures import csrf_token, make_contact


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": True}


def test_post_without_csrf_token_is_refused_and_changes_nothing(staff_client, app):  # type: ignore[no-untyped-def]
    contact = make_contact("csrf@example.org", first_name="Before")
    db.session.commit()
    data = {"version": "1", "first_name": "After", "email": "csrf@example.org", "country": "GB"}
    assert staff_client.post(f"/staff/members/{contact.id}/details", data=data).status_code == 400
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).first_name == "Before"
    token = csrf_token(staff_client, f"/staff/members/{contact.id}")
    response = staff_client.post(f"/staff/members/{contact.id}/details", data={**data, "csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).first_name == "After"
