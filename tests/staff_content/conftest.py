"""Staff content tests: news, pages, plans, Gift Aid and imports. CSRF is off except where tested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.billing.models import Payment
from crm.contacts.models import GiftAidDeclaration
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, Plan


@pytest.fixture
def app_config(tmp_path):  # type: ignore[no-untyped-def]
    return {"WTF_CSRF_ENABLED": False, "IMPORT_UPLOAD_DIR": str(tmp_path / "imports")}


def make_plan(slug: str = "standard", name: str = "Standard yearly", **fields: object) -> Plan:
    values: dict[str, object] = {"amount": 3600, "interval": "year", "gift_aid_eligible": True}
    values.update(fields)
    plan = Plan(slug=slug, name=name, **values)
    db.session.add(plan)
    db.session.flush()
    return plan


def make_membership(contact, plan, status: str = "active", **fields: object) -> Membership:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "joined_at": now - timedelta(days=100),
        "paid_through": now + timedelta(days=200),
    }
    values.update(fields)
    membership = Membership(contact_id=contact.id, plan_id=plan.id, status=status, **values)
    db.session.add(membership)
    db.session.flush()
    lifecycle.refresh_membership_status(contact_ids=[membership.contact_id])  # as the lifecycle does
    return membership


def make_payment(contact, paid_at: datetime, amount: int = 3600, **fields: object) -> Payment:  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "kind": "donation",
        "status": "paid",
        "gift_aid_eligible": True,
        "method": "card",
    }
    values.update(fields)
    payment = Payment(contact_id=contact.id, amount=amount, paid_at=paid_at, **values)
    db.session.add(payment)
    db.session.flush()
    return payment


def declare(
    contact, valid_from: datetime, cancelled_at: datetime | None = None, **fields: object
) -> GiftAidDeclaration:  # type: ignore[no-untyped-def]
    declaration = GiftAidDeclaration(
        contact_id=contact.id, valid_from=valid_from, cancelled_at=cancelled_at, **fields
    )
    db.session.add(declaration)
    db.session.flush()
    return declaration
