"""Plans and memberships for the join, billing and lifecycle tests."""

from __future__ import annotations

from datetime import datetime

from crm.contacts.models import Contact
from crm.memberships.models import Membership, Plan
from tests.factories import MembershipFactory, PlanFactory

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
    return PlanFactory(**values)


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
    return MembershipFactory(contact=contact, plan=plan, status=status, paid_through=paid_through, **fields)
