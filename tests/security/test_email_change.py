"""Issue 26 item 14 (control #35): a sign-in email changes only when the new address confirms.

The attack: a member set their email to a victim's address with no check, and the victim's later
paid join landed on the attacker's account. Now the new address gets a signed, expiring, single-use
link, the old address is told, and staff below admin cannot move an admin's sign-in email.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from crm.contacts.models import Contact
from crm.extensions import db
from tests.security.conftest import World
from tests.security.helpers import link_in, login, outbox, signed_in
from tests.sent_mail import sent_text


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


def _details(contact: Contact, email: str) -> dict[str, str]:
    return {
        "title": "",
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": email,
        "address_line1": "1 High Street",
        "address_line2": "",
        "town": "London",
        "postcode": "N1 9GU",
        "country": "GB",
        "phone": "",
        "version": str(contact.version),
    }


def _ask_for(world: World, email: str):  # type: ignore[no-untyped-def]
    client = world.app.test_client()
    assert login(client, "ana@example.org").status_code == 302  # a fresh sign-in, as the page asks
    contact = db.session.get(Contact, world.ids["a_contact"])
    response = client.post("/account/details", data=_details(contact, email))
    assert response.status_code == 302
    return client


def test_a_member_setting_their_email_to_a_victims_changes_nothing_until_the_victim_confirms(world):
    _ask_for(world, "victim@example.org")
    db.session.expire_all()
    assert db.session.get(Contact, world.ids["a_contact"]).email == "ana@example.org"
    confirm = outbox("email_change_confirm")
    assert [m.to_email for m in confirm] == ["victim@example.org"]
    notice = outbox("email_change_notice")
    assert [m.to_email for m in notice] == ["ana@example.org"]
    assert "victim@example.org" in sent_text(notice[0])
    # The attacker cannot sign in with the victim's address: it is not theirs yet.
    attacker = world.app.test_client()
    login(attacker, "victim@example.org")
    assert not signed_in(attacker)


def test_the_confirmation_link_changes_the_email_once_and_tells_the_old_address(world):
    _ask_for(world, "ana.new@example.org")
    path = link_in(outbox("email_change_confirm")[-1], "/account/email/confirm/")
    anyone = world.app.test_client()
    assert anyone.get(path).status_code == 200
    db.session.expire_all()
    assert db.session.get(Contact, world.ids["a_contact"]).email == "ana@example.org"  # GET changes nothing
    assert anyone.post(path).status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, world.ids["a_contact"]).email == "ana.new@example.org"
    notices = outbox("email_change_notice")
    assert [m.to_email for m in notices] == ["ana@example.org", "ana@example.org"]
    assert anyone.post(path).status_code == 410  # single use
    member = world.app.test_client()
    login(member, "ana.new@example.org")
    assert signed_in(member)


def test_a_confirmation_link_expires_and_a_newer_request_replaces_it(world):
    _ask_for(world, "first@example.org")
    first = link_in(outbox("email_change_confirm")[-1], "/account/email/confirm/")
    _ask_for(world, "second@example.org")
    second = link_in(outbox("email_change_confirm")[-1], "/account/email/confirm/")
    anyone = world.app.test_client()
    assert anyone.post(first).status_code == 410
    with time_machine.travel(timedelta(hours=24, minutes=1)):
        assert anyone.post(second).status_code == 410
    forged = second[:-4] + ("AAAA" if not second.endswith("AAAA") else "BBBB")
    assert anyone.post(forged).status_code == 410
    db.session.expire_all()
    assert db.session.get(Contact, world.ids["a_contact"]).email == "ana@example.org"


def test_staff_below_admin_cannot_change_an_admins_sign_in_email(world):
    admin_contact = db.session.get(Contact, world.users["admin"].contact_id)
    staff = world.client("staff")
    data = _details(admin_contact, "attacker@example.org")
    response = staff.post(f"/staff/members/{admin_contact.id}/details", data=data)
    assert response.status_code != 302 and "Only an admin" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, admin_contact.id).email == "admin@example.org"
    admin = world.client("admin")
    assert admin.post(f"/staff/members/{admin_contact.id}/details", data=data).status_code == 302


def test_the_confirmation_page_is_in_the_readers_language(world):
    _ask_for(world, "ana.nueva@example.org")
    path = link_in(outbox("email_change_confirm")[-1], "/account/email/confirm/")
    html = (
        world.app.test_client()
        .get(path, headers={"Accept-Language": "es-ES,es;q=0.9"})
        .get_data(as_text=True)
    )
    assert "<h1>Confirma tu nuevo correo</h1>" in html
    assert "<strong>ana.nueva@example.org</strong> sea el correo con el que inicias sesión" in html
    assert "Press the button" not in html and "Confirm my new email" not in html
