"""Migrations run up and down on this run's database, with no drift and nothing left behind (and,
in `make soak`, up again); demo is idempotent."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from crm import create_app
from crm.core.migrations import register_migrations
from crm.core.schema import include_object
from crm.extensions import db


@pytest.fixture
def empty_database_url(tmp_path) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"crm_migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


#: PostgreSQL objects an extension owns (pg_trgm's functions): the migrations create extensions
#: IF NOT EXISTS and a downgrade leaves them, as it should for what other databases may share.
_NOT_FROM_AN_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {}.oid AND d.deptype = 'e')"


def _schema_objects(url: str) -> set[tuple[str, str]]:
    """What a migration can leave in a database, as (kind, name), alembic's own table apart:
    SQLite's tables, indexes and triggers; PostgreSQL's relations, types and functions."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                query = "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            else:
                query = f"""
                    SELECT 'relation ' || c.relkind::text, c.relname::text FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public' AND {_NOT_FROM_AN_EXTENSION.format("c")}
                    UNION ALL SELECT 'type', t.typname::text FROM pg_type t
                    JOIN pg_namespace n ON n.oid = t.typnamespace
                    WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'm')
                    AND {_NOT_FROM_AN_EXTENSION.format("t")}
                    UNION ALL SELECT 'function', p.proname::text FROM pg_proc p
                    JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = 'public' AND {_NOT_FROM_AN_EXTENSION.format("p")}"""
            return {(kind, name) for kind, name in conn.execute(text(query)) if "alembic_version" not in name}
    finally:
        engine.dispose()


def _upgrade_without_drift(url: str) -> None:
    upgrade()
    expected = {t.name for t in db.metadata.sorted_tables}
    assert {t for t in _tables(url) if not t.startswith("contact_search")} == expected
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object}),
            db.metadata,
        )
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrations_upgrade_without_drift_and_downgrade_leaves_nothing_behind(empty_database_url):
    """A full downgrade leaves the database as it was before the first upgrade (so an upgrade
    after it is the first upgrade again: `make soak` runs that second upgrade too)."""
    before = _schema_objects(empty_database_url)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database_url)
    register_migrations(app)  # as `flask db` does
    with app.app_context():
        _upgrade_without_drift(empty_database_url)
        downgrade(revision="base")
        assert _tables(empty_database_url) == set()
        db.engine.dispose()
    assert _schema_objects(empty_database_url) == before


@pytest.mark.soak
def test_migrations_upgrade_downgrade_upgrade_without_drift(empty_database_url):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database_url)
    register_migrations(app)  # as `flask db` does
    with app.app_context():
        _upgrade_without_drift(empty_database_url)
        downgrade(revision="base")
        assert _tables(empty_database_url) == set()
        _upgrade_without_drift(empty_database_url)
        db.engine.dispose()


def _snapshot() -> dict[str, list[tuple]]:
    out = {}
    for table in db.metadata.sorted_tables:
        cols = [c for c in table.columns if c.name not in {"created_at", "updated_at"}]
        rows = db.session.execute(select(*cols).order_by(*table.primary_key.columns)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out


def test_demo_twice_gives_the_same_data(app, runner):
    first = runner.invoke(args=["crm", "demo"])
    assert first.exit_code == 0, first.output
    assert "admin@example.org" in first.output and "demo-password" in first.output
    before = _snapshot()
    second = runner.invoke(args=["crm", "demo"])
    assert second.exit_code == 0, second.output
    db.session.expire_all()
    assert _snapshot() == before
    from crm.memberships.models import Membership

    statuses = set(db.session.scalars(select(Membership.status)))
    assert {"active", "grace", "lapsed"} <= statuses
    assert db.session.scalar(select(func.count()).select_from(Membership)) >= 5


def test_the_demo_has_a_joint_couple_who_can_both_sign_in(app, runner, client):
    from crm.contacts.models import Contact
    from crm.demo import DEMO_PASSWORD
    from crm.memberships.models import Membership

    output = runner.invoke(args=["crm", "demo"]).output
    assert "joint@example.org (active, joint: pays for Jamie Shah)" in output
    assert "joint.partner@example.org (active, joint: follows joint@example.org)" in output
    payer, partner = (
        db.session.scalar(select(Contact).where(Contact.email == email))
        for email in ("joint@example.org", "joint.partner@example.org")
    )
    [primary] = payer.memberships
    [follower] = partner.memberships
    assert primary.plan.joint and primary.partner_contact_id == partner.id
    assert follower.joint_primary_id == primary.id and follower.status == primary.status == "active"
    assert follower.paid_through == primary.paid_through and partner.postcode == payer.postcode
    assert db.session.scalar(select(func.count()).select_from(Membership).where(
        Membership.contact_id.in_((payer.id, partner.id)))) == 2  # fmt: skip
    from tests.fixtures import csrf_token

    login = {
        "email": "joint.partner@example.org",
        "password": DEMO_PASSWORD,
        "csrf_token": csrf_token(client, "/login"),
    }
    assert client.post("/login", data=login).status_code == 302
    assert "You are the joint member with Priya Shah" in client.get("/account").get_data(as_text=True)


def test_the_demos_payments_are_the_ones_billing_records(app, runner):
    """Each demo member's payment is billing's: a card payment for the period they are in (as the
    webhook records one, but with no Stripe ids: the demo is offline), and the life member's
    cheque recorded as staff record one, with its reference and receipt."""
    from crm.billing.models import Payment
    from crm.contacts.models import Contact
    from crm.demo import MEMBERS
    from crm.email.models import OutboxMessage

    assert runner.invoke(args=["crm", "demo"]).exit_code == 0
    for email, *_rest, _status, _joined, paid_days, _renew in MEMBERS:
        contact = db.session.scalar(select(Contact).where(Contact.email == email))
        [membership] = contact.memberships
        [payment] = db.session.scalars(select(Payment).where(Payment.contact_id == contact.id))
        plan = membership.plan
        assert (payment.membership_id, payment.kind, payment.status) == (membership.id, "membership", "paid")
        assert (payment.amount, payment.currency, payment.gift_aid_eligible) == (
            plan.amount, plan.currency, plan.gift_aid_eligible)  # fmt: skip
        if paid_days is None:  # life
            assert (payment.method, payment.reference) == ("cheque", "demo life membership")
            assert db.session.scalar(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == f"receipt:{payment.id}")
            )
        else:
            assert (payment.method, payment.paid_at) == ("card", membership.current_period_start)
            assert (payment.stripe_invoice_id, payment.stripe_payment_intent_id, payment.stripe_charge_id) == (
                None, None, None)  # fmt: skip


def test_the_demo_has_people_to_check_in_and_an_agm_vote_that_closes_as_the_meeting_opens(
    app, runner, staff_client
):
    from crm.events.models import Booking, Event, Meeting

    assert runner.invoke(args=["crm", "demo"]).exit_code == 0
    assert runner.invoke(args=["crm", "demo"]).exit_code == 0  # booked once, however often it runs
    film = db.session.scalar(select(Event).where(Event.slug == "film-night-the-long-road-home"))
    bookings = db.session.scalars(select(Booking).where(Booking.event_id == film.id)).all()
    assert sorted((b.email, b.places, b.status) for b in bookings) == [
        ("life@example.org", 1, "confirmed"),
        ("member@example.org", 2, "confirmed"),
        ("monthly@example.org", 1, "confirmed"),
    ]
    page = staff_client.get(f"/staff/events/{film.id}/check-in").get_data(as_text=True)
    assert "Jo Lindqvist" in page and "No confirmed bookings" not in page
    meeting = db.session.scalar(select(Meeting))
    agm_event = db.session.get(Event, meeting.event_id)
    assert meeting.voting_closes_at == agm_event.starts_at


def test_the_quiet_demo_leaves_the_sign_ins_to_the_server(app, runner):
    quiet = runner.invoke(args=["crm", "demo", "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert "Demo data ready" in quiet.output and "demo-password" not in quiet.output
