"""Staff second factor: password alone opens nothing; TOTP and recovery codes work once."""

from __future__ import annotations

from datetime import timedelta

import pyotp

from crm.accounts import mfa
from crm.accounts.models import User
from crm.audit.models import AuditEvent
from crm.core.types import utcnow
from crm.extensions import db
from tests.accounts.conftest import is_signed_in, login
from tests.fixtures import make_user

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrolled(user: User) -> User:
    user.totp_secret = SECRET
    user.totp_enabled = True
    db.session.commit()
    return user


def pass_second_factor(client, user):  # type: ignore[no-untyped-def]
    if not user.totp_enabled:
        enrolled(user)
    return client.post("/login/verify", data={"code": mfa.current_code(SECRET)})


def test_staff_password_alone_opens_no_staff_page(client, staff_user):
    enrolled(staff_user)
    response = login(client, "staff@example.org")
    assert response.headers["Location"] == "/login/verify"
    assert not is_signed_in(client)
    page = client.get("/_test/staff-only")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert client.get("/staff").status_code == 302


def test_totp_code_signs_staff_in_and_works_once(clock, app, client, staff_user):
    enrolled(staff_user)
    login(client, "staff@example.org", next="/_test/staff-only")
    code = mfa.current_code(SECRET)
    response = client.post("/login/verify", data={"code": code})
    assert response.headers["Location"] == "/_test/staff-only"
    assert client.get("/_test/staff-only").get_data(as_text=True) == "staff page"

    again = app.test_client()
    login(again, "staff@example.org")
    replay = again.post("/login/verify", data={"code": code})
    assert replay.status_code == 200
    assert "already used" in replay.get_data(as_text=True)
    clock.shift(timedelta(seconds=30))
    assert again.post("/login/verify", data={"code": mfa.current_code(SECRET)}).status_code == 302


def test_code_from_the_previous_step_is_accepted_but_not_older(clock, client, staff_user):
    enrolled(staff_user)
    login(client, "staff@example.org")
    totp = pyotp.TOTP(SECRET)
    step = totp.timecode(utcnow())
    assert client.post("/login/verify", data={"code": totp.generate_otp(step - 2)}).status_code == 200
    assert client.post("/login/verify", data={"code": totp.generate_otp(step - 1)}).status_code == 302


def test_recovery_code_works_once(app, client, staff_user):
    enrolled(staff_user)
    codes = mfa.new_recovery_codes(staff_user)
    db.session.commit()
    login(client, "staff@example.org")
    assert client.post("/login/verify", data={"code": codes[0].upper()}).status_code == 302
    db.session.expire_all()
    assert len(db.session.get(User, staff_user.id).recovery_codes) == 9
    assert db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "mfa.recovery_code_used")
    ).one()

    other = app.test_client()
    login(other, "staff@example.org")
    assert other.post("/login/verify", data={"code": codes[0]}).status_code == 200
    assert other.get("/_test/staff-only").status_code == 302


def test_five_wrong_codes_send_staff_back_to_the_password(client, staff_user):
    enrolled(staff_user)
    login(client, "staff@example.org")
    for _ in range(4):
        assert client.post("/login/verify", data={"code": "000000"}).status_code == 200
    response = client.post("/login/verify", data={"code": "000000"})
    assert response.headers["Location"] == "/login"
    assert client.get("/login/verify").headers["Location"] == "/login"


def test_staff_without_a_second_factor_enrol_before_anything_opens(client, app):
    make_user("new.staff@example.org", "staff")
    response = login(client, "new.staff@example.org")
    assert response.headers["Location"] == "/login/enrol"
    page = client.get("/login/enrol").get_data(as_text=True)
    with client.session_transaction() as session:
        secret = session["mfa_pending"]["secret"]
    assert secret in page
    assert "otpauth://totp/" in page
    assert "http" not in page.split("otpauth://")[0].split("<main")[-1].replace(
        'href="/', ""
    )  # no QR service
    wrong = client.post(
        "/login/enrol", data={"code": "123456" if pyotp.TOTP(secret).now() != "123456" else "654321"}
    )
    assert "does not match" in wrong.get_data(as_text=True)
    done = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()})
    html = done.get_data(as_text=True)
    assert "shown only once" in html
    assert html.count("<code>") == 10
    assert client.get("/_test/staff-only").status_code == 200
    user = db.session.scalars(db.select(User).where(User.role == "staff")).one()
    db.session.refresh(user)
    assert user.totp_enabled and len(user.recovery_codes) == 10


def test_members_need_no_second_factor(client, member):
    assert login(client, "member@example.org").headers["Location"] == "/account"
    assert is_signed_in(client)
    assert client.get("/_test/staff-only").status_code == 403
