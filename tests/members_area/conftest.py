"""Members with and without access, for the members' area and news tests."""

from __future__ import annotations

import pytest

from crm.extensions import db
from tests.fixtures import make_user
from tests.members_area.factories import make_membership, make_plan


@pytest.fixture
def plan(app):  # type: ignore[no-untyped-def]
    return make_plan()


@pytest.fixture
def active_member(app, plan):  # type: ignore[no-untyped-def]
    user = make_user("ana@example.org", first_name="Ana", last_name="Torres")
    make_membership(user.contact, plan, "active", subscription_id="sub_ana")
    user.contact.stripe_customer_id = "cus_ana"
    db.session.commit()
    return user


@pytest.fixture
def lapsed_member(app, plan):  # type: ignore[no-untyped-def]
    user = make_user("luis@example.org", first_name="Luis", last_name="Lapsed")
    make_membership(
        user.contact,
        plan,
        "lapsed",
        paid_days=-40,
        auto_renew=False,
        reason="grace period ended without payment",
    )
    db.session.commit()
    return user


@pytest.fixture
def other_member(app, plan):  # type: ignore[no-untyped-def]
    user = make_user(
        "bea@example.org",
        first_name="Bea",
        last_name="Other",
        address_line1="99 Secret Road",
        postcode="SW1A 1AA",
        phone="07700900999",
    )
    make_membership(user.contact, plan, "active", subscription_id="sub_bea")
    db.session.commit()
    return user
