"""A stalled Stripe stalls only the member renewing (issue 26 item 19, the renewal page).

The renewal checkout commits before each Stripe call, so while it waits on a hanging Stripe no
database write transaction is open: another member signs in at once, and the renewer is told that
nothing was charged.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.extensions import db
from tests.fixtures import PASSWORD, csrf_token, make_user
from tests.members_area.factories import make_membership, sign_in


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"RATELIMIT_ENABLED": False, "STRIPE_MAX_NETWORK_RETRIES": 1, "STRIPE_TIMEOUT": 6}


def test_with_stripe_hanging_on_a_renewal_another_member_signs_in_at_once(app, plan, stripe_sandbox):
    renewer = make_user("rosa@example.org", first_name="Rosa", last_name="Renew")
    make_membership(renewer.contact, plan, "active", paid_days=20, auto_renew=False)
    db.session.commit()
    make_user("member@example.org")
    # The Customer is made (and its id saved); then every attempt at the Checkout Session hangs.
    stripe_sandbox.fail_next("/v1/checkout/sessions", "hang", count=2, seconds=10)

    client = app.test_client()
    sign_in(client, renewer)
    token = csrf_token(client, "/account")
    member = app.test_client()
    login_token = csrf_token(member, "/login")
    renewed: dict[str, Any] = {}

    def renew() -> None:
        response = client.post("/account/renew/pay", data={"csrf_token": token}, follow_redirects=True)
        renewed.update(status=response.status_code, html=response.get_data(as_text=True))

    renewing = threading.Thread(target=renew)
    renewing.start()
    time.sleep(1.0)  # the renewal has made the Customer and is waiting on the Checkout Session

    started = time.monotonic()
    signed_in = member.post(
        "/login", data={"email": "member@example.org", "password": PASSWORD, "csrf_token": login_token}
    )
    took = time.monotonic() - started
    renewing.join(timeout=40)
    assert not renewing.is_alive()
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:500]
    assert took < 3, f"sign-in waited {took:.1f} s for the renewal's database lock"
    assert renewed["status"] == 200
    assert "You have not been charged." in renewed["html"], renewed["html"][:800]
    db.session.expire_all()
    # The Customer Stripe made is kept, so trying again reuses it.
    assert db.session.scalar(select(Contact.stripe_customer_id).where(Contact.id == renewer.contact_id))
