"""A joint membership reached the way production reaches it: the join form, then the sandbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership, Plan
from tests.memberships.factories import make_plan
from tests.stripe_fixtures import deliver_webhooks

JOINT_PLAN_NAME = "Joint (two adults at one address)"
PAYER = {
    "title": "Ms",
    "first_name": "Ana",
    "last_name": "Torres",
    "email": "ana@example.org",
    "address_line1": "1 High Street",
    "town": "London",
    "postcode": "N1 9GU",
    "country": "GB",
    "preferred_language": "en",
}
PARTNER = {"partner_first_name": "Luis", "partner_last_name": "Ramos", "partner_email": "luis@example.org"}


def make_joint_plan(**fields: Any) -> Plan:
    values: dict[str, Any] = {"name": JOINT_PLAN_NAME, "amount": 5400, "interval": "year", "joint": True}
    values.update(fields)
    return make_plan("joint-yearly", **values)


def joint_form(plan: Plan, **changes: str) -> dict[str, str]:
    return {**PAYER, **PARTNER, "plan": str(plan.id), **changes}


def membership_of(email: str) -> Membership | None:
    return db.session.scalar(
        select(Membership)
        .join(Contact, Contact.id == Membership.contact_id)
        .where(Contact.email == email)
        .order_by(Membership.id.desc())
        .limit(1)
    )


def join_jointly(
    client: Any, stripe_sandbox: Any, plan: Plan, **changes: str
) -> tuple[Membership, Membership]:
    """Join on the joint plan, pay in the sandbox, deliver the webhooks: (payer's, second adult's)."""
    data = joint_form(plan, **changes)
    response = client.post("/join", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    primary = membership_of(data["email"])
    assert primary is not None
    stripe_sandbox.pay(primary.stripe_checkout_session_id)
    assert all(r.status_code == 200 for r in deliver_webhooks(client))
    db.session.expire_all()
    primary = db.session.get(Membership, primary.id)
    follower = membership_of(data["partner_email"])
    assert primary is not None and follower is not None
    return primary, follower
