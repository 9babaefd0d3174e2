"""Nothing lost, nothing doubled: helpers to join members through the sandbox and count rows."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


@pytest.fixture
def plans(app):  # type: ignore[no-untyped-def]
    found = make_plans()
    db.session.commit()
    return found


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def count(model: Any, *where: Any) -> int:
    db.session.commit()  # end this thread's read snapshot: see what other threads committed
    found = db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    db.session.commit()  # and hold no lock open afterwards
    return found


def join_and_pay(
    client: FlaskClient, plans: dict[str, Any], sandbox: Any, email: str, plan: str = "standard-yearly"
) -> tuple[int, str]:
    """POST /join, then press Pay in the sandbox; the webhooks wait in its queue."""
    response = client.post("/join", data=form(plans, email=email, plan=str(plans[plan].id)))
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    membership = db.session.scalar(
        select(Membership).join(Contact, Contact.id == Membership.contact_id).where(Contact.email == email)
    )
    sandbox.pay(membership.stripe_checkout_session_id)
    return membership.id, membership.stripe_checkout_session_id
