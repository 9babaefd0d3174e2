"""Controls 19, 26-33: price tampering, CSV formula injection and RFC 4180, upload limits, errors
that leak nothing, the audit trail and clean logs, GDPR export and erasure, pins and secrets."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import String, Text, select

from crm.accounts.models import User
from crm.audit.models import AuditEvent
from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership
from crm.staff import import_service
from crm.staff.exports import csv_lines, neutralise
from tests.fixtures import PASSWORD
from tests.security.conftest import changed_tables, snapshot
from tests.security.helpers import login

ROOT = Path(__file__).resolve().parents[2]
FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "-1", "@SUM(A1)", "\tTabbed", "\rCarriage"]


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


def _audit(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- 26: CSV ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", FORMULAS)
def test_a_cell_that_would_start_a_formula_is_exported_with_a_leading_quote(value):
    assert neutralise(value) == "'" + value
    assert neutralise("Ana") == "Ana" and neutralise("O'Brien") == "O'Brien"


def test_the_member_export_neutralises_formulas_quotes_per_rfc_4180_and_round_trips(world):
    contact = db.session.get(Contact, world.ids["a_contact"])
    contact.first_name, contact.last_name = '=HYPERLINK("http://x","y")', 'Comma, "Quote"\nNewline'
    contact.town = "@SUM(A1)"
    db.session.commit()
    body = world.client("admin").get("/staff/members/export.csv").get_data(as_text=True)
    assert "\r\n" in body  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    ana = next(r for r in rows if r["email"] == "ana@example.org")
    assert ana["first name"] == '\'=HYPERLINK("http://x","y")'
    assert ana["town"] == "'@SUM(A1)"
    assert ana["last name"] == 'Comma, "Quote"\nNewline'
    # Re-importing our own export gives back the original values.
    mapping = {"email": "email", "first_name": "first name", "last_name": "last name", "town": "town"}
    contact.first_name = contact.town = "changed"
    db.session.commit()
    import_service.import_members(body, mapping, source_name="roundtrip.csv", actor=world.users["admin"])
    db.session.commit()
    db.session.expire_all()
    contact = db.session.get(Contact, world.ids["a_contact"])
    assert contact.first_name == '=HYPERLINK("http://x","y")' and contact.town == "@SUM(A1)"


def test_csv_lines_quote_like_rfc_4180():
    text = "".join(csv_lines(["a", "b"], [['x"y', "1,2"]]))
    assert text == 'a,b\r\n"x""y","1,2"\r\n'


# --- 27: uploads and limits ----------------------------------------------------------------------------


def test_a_body_above_the_limit_gets_a_clear_413_page(world):
    world.app.config["MAX_CONTENT_LENGTH"] = 1024
    before = snapshot(exclude=set())
    response = world.client(None).post("/join", data={"first_name": "x" * 5000})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert changed_tables(before, snapshot(exclude=set())) == []


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("members.xlsx", b"PK\x03\x04" + b"\x00" * 100),
        ("members.pdf", b"%PDF-1.4 binary"),
        ("members.csv", bytes(range(256)) * 4),
        ("empty.csv", b""),
    ],
)
def test_a_non_csv_or_binary_import_is_refused_clearly_and_adds_no_rows(world, name, data):
    admin = world.client("admin")
    before = snapshot()
    response = admin.post(
        "/staff/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert 'class="error' in response.get_data(as_text=True) or "error" in response.get_data(as_text=True)
    assert changed_tables(before, snapshot()) == []


# --- 28: errors leak nothing ---------------------------------------------------------------------------


@pytest.fixture
def production_app(app, monkeypatch):  # type: ignore[no-untyped-def]
    from crm import create_app

    for key, value in {
        "SECRET_KEY": "s3cr3t-" + "q" * 40,
        "DATABASE_URL": "postgresql://crm@db.internal/crm",  # the test database is passed below
        "ORG_NAME": "Members of an Example Charity",
        "ORG_ADDRESS": "1 Real Street, London N1 1AA",
        "ORG_CHARITY_NUMBER": "7654321",
        "STRIPE_SECRET_KEY": "sk_test_fake_leak_check",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_fake",
        "STRIPE_WEBHOOK_SECRET": "whsec_fake_leak_check",
        "STRIPE_API_BASE": "https://127.0.0.1:9",
        "BASE_URL": "https://crm.example.org",
        "MAIL_SERVER": "127.0.0.1",
        "REDIS_URL": "",
    }.items():
        monkeypatch.setenv(key, value)
    prod = create_app(
        "production",
        RATELIMIT_STORAGE_URI="memory://",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
    )

    @prod.get("/_boom")
    def _boom():  # type: ignore[no-untyped-def]
        db.session.execute(select(Contact).where(Contact.id == 1))
        raise RuntimeError("SELECT secret FROM contact -- sk_test_fake_leak_check")

    return prod


def test_a_forced_exception_in_production_shows_a_generic_page(production_app, caplog):
    caplog.set_level(logging.ERROR)
    client = production_app.test_client()
    response = client.get("https://crm.example.org/_boom")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Sorry, something went wrong" in html
    for leak in ("Traceback", "RuntimeError", "SELECT", "sk_test_fake", "whsec_", "s3cr3t", 'File "'):
        assert leak not in html
    assert production_app.config["DEBUG"] is False and not production_app.debug
    assert client.get("https://crm.example.org/console").status_code == 404
    json_response = client.get("https://crm.example.org/_boom", headers={"Accept": "application/json"})
    assert "RuntimeError" not in json_response.get_data(as_text=True)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"])
def test_production_refuses_to_start_without_its_secrets(app, monkeypatch, missing):
    from config import ConfigurationError
    from crm import create_app

    for key, value in {
        "SECRET_KEY": "k" * 40,
        "DATABASE_URL": "sqlite://",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "BASE_URL": "https://crm.example.org",
        "MAIL_SERVER": "mail",
        "STRIPE_API_BASE": "",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigurationError, match=missing):
        create_app("production")


# --- 29: audit trail and logs ----------------------------------------------------------------------------


def test_security_events_are_audited_with_actor_target_time_and_ip(world, stripe_sandbox):
    anon = world.client(None)
    login(anon, "ana@example.org", "wrong password!!")
    login(anon, "ana@example.org", PASSWORD)
    anon.post("/password/reset", data={"email": "ben@example.org"})
    admin = world.client("admin")
    admin.get(f"/staff/members/{world.ids['b_contact']}")
    admin.get("/staff/members/export.csv")
    for action in (
        "login.failure",
        "login.success",
        "password.reset_requested",
        "member.view",
        "export.members",
    ):
        rows = _audit(action)
        assert rows, action
        row = rows[-1]
        assert row.at.tzinfo is not None and row.actor_label and row.ip == "127.0.0.1", action
    assert _audit("member.view")[-1].target_id == str(world.ids["b_contact"])
    assert _audit("login.failure")[-1].actor_label == "ana@example.org"


def test_reset_completion_refund_and_erasure_are_audited(world, stripe_sandbox):
    from crm.accounts import services as account_services
    from crm.accounts import tokens
    from crm.members_area.services import request_erasure

    user = db.session.get(User, world.users["b"].id)
    raw = tokens.issue_token(tokens.RESET_PASSWORD, user=user, ttl=tokens.RESET_PASSWORD_TTL)
    db.session.commit()
    world.client(None).post(
        f"/password/reset/{raw}",
        data={"password": "a brand new passphrase", "confirm": "a brand new passphrase"},
    )
    assert _audit("password.reset")
    contact = db.session.get(Contact, world.ids["a_contact"])
    request_erasure(contact, actor=world.users["a"])
    db.session.commit()
    world.client("admin").post(f"/staff/members/{contact.id}/erase", data={"erase-confirm": "y"})
    assert _audit("erasure.completed") and _audit("member.erasure_confirmed")
    assert account_services is not None


def test_logs_never_hold_passwords_tokens_cookies_or_secrets(world, caplog):
    caplog.set_level(logging.DEBUG)
    client = world.client(None)
    login(client, "ana@example.org", "my wrong secret password")
    login(client, "ana@example.org", PASSWORD)
    cookie = client.get_cookie("session").value
    client.post("/password/reset", data={"email": "ben@example.org"})
    client.post("/stripe/webhook", data=b"{}", headers={"Stripe-Signature": "t=1,v1=deadbeef"})
    from crm.accounts.models import AuthToken

    text = caplog.text
    for secret in (
        "my wrong secret password",
        PASSWORD,
        cookie,
        "whsec_sandbox",
        "sk_test_sandbox",
        world.app.config["SECRET_KEY"],
        "4242424242424242",
    ):
        assert secret not in text
    for token_hash in db.session.scalars(select(AuthToken.token_hash)):
        assert token_hash not in text


def test_a_username_with_a_newline_does_not_forge_a_log_or_audit_line(world, caplog):
    from crm.audit.services import record
    from crm.core.logging import _SingleLineFormatter

    forged = "x@example.org\n2030-01-01 INFO crm: admin signed in"
    login(world.client(None), forged, "wrong password!!")  # refused by the form, or audited on one line
    record("login.failure", actor_label=forged, detail=forged)
    db.session.commit()
    for row in _audit("login.failure"):
        assert "\n" not in row.actor_label and "\n" not in row.detail and "\r" not in row.detail
    formatter = _SingleLineFormatter("%(message)s")
    record = logging.LogRecord("crm", logging.WARNING, __file__, 1, "login failed for %s", (forged,), None)
    assert "\n" not in formatter.format(record)


def test_no_endpoint_edits_or_deletes_audit_rows(app):
    for rule in app.url_map.iter_rules():
        assert not rule.methods & {"PUT", "PATCH", "DELETE"}, rule.rule
        assert "audit" not in rule.rule or rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule.rule


# --- 30, 31: GDPR --------------------------------------------------------------------------------------


def test_a_member_downloads_their_own_data_as_json_and_csv_and_nothing_about_others(world):
    client = world.client("a")
    data = json.loads(client.get("/account/data.json").get_data(as_text=True))
    flat = json.dumps(data)
    assert "ana@example.org" in flat and "Torres" in flat
    assert "ben@example.org" not in flat and "Okafor" not in flat and "Phoned Ben" not in flat
    for section in ("memberships", "payments"):
        assert any(section in key for key in data), section
    csv_body = client.get("/account/data.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(csv_body)))
    assert len(rows) > 3 and "ben@example.org" not in csv_body
    assert _audit("export.self")


def test_the_export_function_staff_use_for_a_subject_access_request_covers_any_member(world):
    from crm.members_area.export import contact_data_json

    contact = db.session.get(Contact, world.ids["b_contact"])
    flat = contact_data_json(contact)
    assert "ben@example.org" in flat and "ana@example.org" not in flat


def _text_columns_containing(needles: list[str]) -> list[str]:
    found = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, (String, Text)) or column.type.__class__.__name__ == "JSON":
                    for (value,) in conn.execute(select(column)):
                        text = json.dumps(value) if not isinstance(value, str) else value
                        for needle in needles:
                            if value is not None and needle.lower() in text.lower():
                                found.append(f"{table.name}.{column.name}: {needle}")
    return found


def test_erasure_leaves_no_personal_detail_kills_sign_in_and_keeps_payments(world, stripe_sandbox):
    from crm.billing.models import Payment
    from crm.members_area.services import request_erasure

    contact = db.session.get(Contact, world.ids["a_contact"])
    contact.phone, contact.address_line1, contact.postcode = "07700 900123", "17 Erasure Lane", "ZZ9 9ZZ"
    db.session.commit()
    ana = world.client(None)
    login(ana, "ana@example.org", PASSWORD)
    login(world.client(None), "ana@example.org", "wrong password!!")  # an audit row naming her
    ana.post(
        "/account/details",
        data={
            "title": "Ms",
            "first_name": "Ana",
            "last_name": "Torres",
            "email": "ana@example.org",
            "address_line1": "17 Erasure Lane",
            "town": "London",
            "postcode": "ZZ9 9ZZ",
            "country": "GB",
            "phone": "07700 900123",
            "version": str(contact.version),
        },
    )
    request_erasure(contact, actor=world.users["a"])
    db.session.commit()
    response = world.client("admin").post(f"/staff/members/{contact.id}/erase", data={"erase-confirm": "y"})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:3000]
    leftovers = _text_columns_containing(
        ["ana@example.org", "Torres", "Erasure Lane", "07700 900123", "ZZ9 9ZZ", "ZZ99ZZ"]
    )
    assert leftovers == [], "; ".join(leftovers)
    assert ana.get("/account").status_code == 302  # her open session is dead
    assert db.session.scalar(select(db.func.count(Payment.id)).where(Payment.contact_id == contact.id)) == 1
    assert _audit("erasure.completed")
    # A Stripe customer.updated event for her customer does not bring her details back.
    from tests.stripe_fixtures import post_event

    event = {
        "id": "evt_erased_1",
        "object": "event",
        "type": "customer.updated",
        "created": 1,
        "data": {
            "object": {
                "id": "cus_x",
                "object": "customer",
                "email": "ana@example.org",
                "name": "Ana Torres",
                "metadata": {"contact_id": str(contact.id)},
            }
        },
    }
    assert post_event(world.client(None), event).status_code == 200
    assert _text_columns_containing(["ana@example.org", "Torres"]) == []
    # Her old address no longer signs in (a later attempt is audited as typed, like any failure).
    assert login(world.client(None), "ana@example.org", PASSWORD).status_code == 200


# --- 19: price tampering ---------------------------------------------------------------------------------


def test_a_tampered_join_post_pays_the_stored_plan_price(world, stripe_sandbox):
    from tests.join.test_join_form import VALID

    data = {
        **VALID,
        "email": "new.supporter@example.org",
        "plan": str(world.ids["plan"]),
        "amount": "1",
        "price": "1",
        "currency": "usd",
        "interval": "day",
        "unit_amount": "1",
        "plan_amount": "1",
        "stripe_price_id": "price_cheap",
    }
    response = world.client(None).post("/join", data=data)
    assert response.status_code == 303
    sessions = stripe_sandbox.find("checkout.session")
    assert len(sessions) == 1
    session = sessions[0]
    assert session["amount_total"] == 3600 and session["currency"] == "gbp"
    contact = db.session.scalars(select(Contact).where(Contact.email == "new.supporter@example.org")).one()
    membership = db.session.scalars(select(Membership).where(Membership.contact_id == contact.id)).one()
    assert membership.status == "pending"  # skipping the payment step makes nobody a member
    assert world.client(None).get(f"/join/success?session_id={session['id']}").status_code == 200
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).status == "pending"


# --- 32, 33: supply chain and secrets -------------------------------------------------------------------


def test_every_runtime_dependency_is_pinned_exactly():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r"):
                assert re.match(r"^[A-Za-z0-9_.\-\[\]]+==[0-9][\w.]*$", line), f"{name}: {line}"


SECRET_PATTERNS = [
    re.compile(r"sk_live_[0-9A-Za-z]{8,}"),
    re.compile(r"rk_live_[0-9A-Za-z]{8,}"),
    re.compile(r"whsec_[0-9A-Za-z]{20,}"),
    re.compile(r"sk_test_[0-9A-Za-z]{20,}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----"),
    re.compile(r"(?i)(?:password|passwd|secret)\s*=\s*[\"'][^\"'{}\s]{12,}[\"']"),
]
ALLOWED_SECRETS = {"sk_test_sandbox", "whsec_sandbox"}


def test_no_real_looking_secret_is_committed_in_code_or_config():
    offenders = []
    paths = [
        *(ROOT / "crm").rglob("*.py"),
        ROOT / "config.py",
        ROOT / "wsgi.py",
        *(ROOT / "templates").rglob("*"),
    ]
    for path in paths:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if "noqa: S105" in line or "noqa: S107" in line:
                continue  # a reviewed, documented development value (bandit's own marker)
            for pattern in SECRET_PATTERNS:
                for match in pattern.finditer(line):
                    if match.group(0) not in ALLOWED_SECRETS:
                        offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)[:24]}")
    assert offenders == []
