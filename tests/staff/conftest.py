"""Factories and fixtures for the staff CRM tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from crm.billing.models import Payment
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, Plan
from crm.staff.search import ensure_search_indexes
from tests.fixtures import make_contact


@pytest.fixture
def app_config() -> dict[str, object]:
    """Most staff tests post forms directly; test_csrf.py turns CSRF back on."""
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture(autouse=True)
def search_indexes(app):  # type: ignore[no-untyped-def]
    ensure_search_indexes(db.engine)
    ensure_search_indexes(db.engine)  # idempotent
    return app


def make_plan(
    slug: str = "standard-yearly", amount: int = 3600, interval: str = "year", **fields: object
) -> Plan:
    defaults: dict[str, object] = {"name": slug.replace("-", " ").title(), "gift_aid_eligible": True}
    defaults.update(fields)
    plan = Plan(slug=slug, amount=amount, interval=interval, **defaults)
    db.session.add(plan)
    db.session.flush()
    return plan


def make_membership(
    contact: Contact,
    plan: Plan,
    status: str = "active",
    *,
    joined_days_ago: int = 100,
    paid_days: int | None = 200,
    **fields: object,
) -> Membership:
    now = utcnow()
    membership = Membership(
        contact_id=contact.id,
        plan_id=plan.id,
        status=status,
        joined_at=now - timedelta(days=joined_days_ago),
        current_period_start=now - timedelta(days=joined_days_ago),
        paid_through=now + timedelta(days=paid_days) if paid_days is not None else None,
        **fields,
    )
    db.session.add(membership)
    if not contact.member_number:
        db.session.flush()
        contact.member_number = f"M{contact.id:06d}"
    db.session.flush()
    lifecycle.refresh_membership_status(contact_ids=[membership.contact_id])  # as the lifecycle does
    return membership


def make_payment(
    contact: Contact,
    membership: Membership | None = None,
    amount: int = 3600,
    *,
    method: str = "card",
    status: str = "paid",
    paid_at: datetime | None = None,
    **fields: object,
) -> Payment:
    payment = Payment(
        contact_id=contact.id,
        membership_id=membership.id if membership else None,
        kind="membership" if membership else "donation",
        amount=amount,
        method=method,
        status=status,
        paid_at=paid_at or utcnow(),
        **fields,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def declare_gift_aid(contact: Contact) -> GiftAidDeclaration:
    declaration = GiftAidDeclaration(
        contact_id=contact.id, source="test", house="1", postcode=contact.postcode
    )
    db.session.add(declaration)
    db.session.flush()
    return declaration


def make_member(email: str, plan: Plan, status: str = "active", **contact_fields: object) -> Contact:
    contact = make_contact(email, **contact_fields)
    make_membership(contact, plan, status)
    return contact


@contextmanager
def count_queries() -> Iterator[list[str]]:
    """Every SQL statement the block runs (before_cursor_execute)."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


@pytest.fixture
def plan(app) -> Plan:  # type: ignore[no-untyped-def]
    created = make_plan()
    db.session.commit()
    return created
