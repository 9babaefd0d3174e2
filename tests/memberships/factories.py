"""Plans and memberships for the join, billing and lifecycle tests."""

from __future__ import annotations

from datetime import datetime

from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership, Plan

PLANS = {
    "standard-yearly": ("Standard (yearly)", 3600, "year", True),
    "concession-yearly": ("Concession (yearly)", 1200, "year", True),
    "monthly": ("Monthly", 400, "month", True),
    "organisation-yearly": ("Organisation (yearly)", 12000, "year", False),
    "life": ("Life", 50000, "lifetime", True),
}


def make_plan(slug: str = "standard-yearly", **fields: object) -> Plan:
    name, amount, interval, gift_aid = PLANS.get(slug, (slug.title(), 1000, "year", True))
    values: dict[str, object] = {
        "slug": slug,
        "name": name,
        "amount": amount,
        "interval": interval,
        "gift_aid_eligible": gift_aid,
        "display_order": list(PLANS).index(slug) if slug in PLANS else 99,
    }
    values.update(fields)
    plan = Plan(**values)
    db.session.add(plan)
    db.session.flush()
    return plan


def make_plans() -> dict[str, Plan]:
    return {slug: make_plan(slug) for slug in PLANS}


def make_membership(
    contact: Contact,
    plan: Plan,
    status: str = "active",
    *,
    paid_through: datetime | None = None,
    **fields: object,
) -> Membership:
    membership = Membership(
        contact_id=contact.id, plan_id=plan.id, status=status, paid_through=paid_through, **fields
    )
    db.session.add(membership)
    db.session.flush()
    return membership
