"""Issue 26 item 13 (control #34): staff reading the outbox never see a live one-time link.

The attack: a staff account opened /staff/outbox, copied a member's sign-in link and an admin's
reset link from the stored bodies, and used them. Now the bodies hold a placeholder, the live link
waits apart only until the email is sent, and the recipient's email is the only place it exists.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crm.email.models import OutboxMessage
from crm.extensions import db
from tests.security.conftest import World
from tests.security.helpers import link_in, outbox, signed_in

LINK_PATHS = ("/login/link/", "/password/reset/", "/password/set/")


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


def _request_every_one_time_link(world: World) -> dict[str, str]:
    """A sign-in link for member A, a reset for the admin, a fresh welcome for member B: the links
    exactly as their recipients got them."""
    anonymous = world.client(None)
    anonymous.post("/login/link", data={"email": "ana@example.org"})
    anonymous.post("/password/reset", data={"email": "admin@example.org"})
    admin = world.client("admin")
    assert admin.post(f"/staff/members/{world.ids['b_contact']}/welcome").status_code in (302, 303)
    return {
        "login": link_in(outbox("login_link")[-1], "/login/link/"),
        "reset": link_in(outbox("reset_password")[-1], "/password/reset/"),
        "welcome": link_in(outbox("welcome")[-1], "/password/set/"),
    }


def test_staff_reading_every_outbox_page_find_no_live_sign_in_reset_or_set_password_link(world):
    links = _request_every_one_time_link(world)
    staff = world.client("staff")
    pages = [staff.get("/staff/outbox").get_data(as_text=True)]
    for message_id in db.session.scalars(select(OutboxMessage.id)):
        page = staff.get(f"/staff/outbox/{message_id}")
        assert page.status_code == 200
        pages.append(page.get_data(as_text=True))
    for html in pages:
        for path in links.values():
            assert path.rsplit("/", 1)[1] not in html
        for prefix in LINK_PATHS:
            assert not re.search(re.escape(prefix) + r"[A-Za-z0-9_\-]{20,}", html)


def test_no_live_token_is_stored_once_the_email_is_sent(world):
    links = _request_every_one_time_link(world)
    db.session.expire_all()
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert {row.status for row in rows if row.kind in ("login_link", "reset_password", "welcome")} == {"sent"}
    stored = " ".join(f"{r.body_text} {r.body_html} {r.headers} {r.one_time_link or ''}" for r in rows)
    for path in links.values():
        assert path.rsplit("/", 1)[1] not in stored


def test_the_recipient_still_gets_a_working_link(world, app):
    links = _request_every_one_time_link(world)
    member = app.test_client()
    member.post(links["login"])
    assert signed_in(member)


def test_staff_cannot_resend_a_spent_one_time_link_they_could_then_intercept(world):
    _request_every_one_time_link(world)
    message = outbox("reset_password")[-1]
    staff = world.client("staff")
    page = staff.post(f"/staff/outbox/{message.id}/resend", follow_redirects=True)
    assert "request a new link" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).attempts == 1


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": False}])
def test_the_subscribe_confirmation_link_is_not_kept_once_the_email_is_sent(client, app):  # type: ignore[no-untyped-def]
    """Like the sign-in links: the confirmation link lives only until its email is sent."""
    from crm.email.delivery import deliver_due

    answer = client.post("/subscribe", data={"email": "reader@example.org",
                                             "first_name": "Rita", "consent": "y"})  # fmt: skip
    assert answer.status_code in (200, 302, 303)
    deliver_due()
    stored = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_email == "reader@example.org")
    ).all()
    assert stored and all(
        "/subscribe/confirm/" not in (m.body_text or "") + (m.body_html or "") for m in stored
    )
    assert all(not m.one_time_link for m in stored)
