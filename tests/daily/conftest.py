from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from crm.contacts.models import Contact
from crm.email.sender import MEMORY_OUTBOX
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, Plan
from tests.fixtures import make_contact


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"MAIL_BACKEND": "memory", "GRACE_DAYS": 30}


@pytest.fixture(autouse=True)
def _empty_memory_outbox() -> Iterator[None]:
    MEMORY_OUTBOX.clear()
    yield
    MEMORY_OUTBOX.clear()


def make_plan(slug: str = "standard", interval: str = "year", amount: int = 3600) -> Plan:
    plan = Plan(slug=slug, name=slug.replace("-", " ").title(), amount=amount, interval=interval)
    db.session.add(plan)
    db.session.flush()
    return plan


def make_membership(
    contact: Contact | str,
    plan: Plan,
    *,
    paid_through: datetime | None,
    status: str = "active",
    auto_renew: bool = False,
    stripe_subscription_id: str | None = None,
    **fields: object,
) -> Membership:
    if isinstance(contact, str):
        contact = make_contact(contact)
    membership = Membership(
        contact_id=contact.id,
        plan_id=plan.id,
        status=status,
        joined_at=fields.pop("joined_at", None),
        paid_through=paid_through,
        auto_renew=auto_renew,
        stripe_subscription_id=stripe_subscription_id,
        **fields,
    )
    db.session.add(membership)
    db.session.flush()
    lifecycle.refresh_membership_status(contact_ids=[membership.contact_id])  # as the lifecycle does
    return membership
