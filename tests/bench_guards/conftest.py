"""Query-count guards (issue 8): pages and jobs that must issue a fixed number of statements,
whatever the number of rows. Tests, not benchmarks: no timing is asserted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from crm.billing.models import Payment
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.models import Membership, Plan
from tests.fixtures import make_contact


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False}


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement run inside the block (executemany counts once), the session check
    included: with a real pool it runs on the driver's cursor (crm.accounts.session), which
    SQLAlchemy's statement events do not see, so it is counted where it is made."""
    from sqlalchemy.pool import StaticPool

    from crm.accounts import session as sessions

    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    check = sessions._check_session

    def counted_check(user_id: int, token_hash: str):  # type: ignore[no-untyped-def]
        if not isinstance(db.engine.pool, StaticPool):  # there the check runs in the session: seen above
            seen.append(sessions._compiled_check(db.engine).sql)
        return check(user_id, token_hash)

    event.listen(db.engine, "before_cursor_execute", before)
    sessions._check_session = counted_check
    try:
        yield seen
    finally:
        sessions._check_session = check
        event.remove(db.engine, "before_cursor_execute", before)


@pytest.fixture
def plan(app) -> Plan:  # type: ignore[no-untyped-def]
    plan = Plan(slug="standard-yearly", name="Standard (yearly)", amount=3600, interval="year")
    db.session.add(plan)
    db.session.commit()
    return plan


def add_members(plan: Plan, count: int, *, start: int = 0, payments: int = 1) -> None:
    """`count` contacts, each with an active membership and `payments` paid card payments."""
    now = utcnow()
    for i in range(start, start + count):
        contact = make_contact(f"guard{i}@example.net", first_name=f"Guard{i}", last_name="Member",
                               member_number=f"G{i:06d}")  # fmt: skip
        add_membership_and_payments(contact.id, plan, payments, now - timedelta(days=i))
    db.session.commit()


def add_membership_and_payments(contact_id: int, plan: Plan, payments: int, when) -> Membership:  # type: ignore[no-untyped-def]
    membership = Membership(contact_id=contact_id, plan_id=plan.id, status="active", joined_at=when,
                            current_period_start=when, paid_through=when + timedelta(days=365))  # fmt: skip
    db.session.add(membership)
    db.session.flush()
    for k in range(payments):
        db.session.add(Payment(contact_id=contact_id, membership_id=membership.id, kind="membership", amount=3600,
                               method="card", status="paid", paid_at=when - timedelta(days=k)))  # fmt: skip
    db.session.flush()
    return membership
