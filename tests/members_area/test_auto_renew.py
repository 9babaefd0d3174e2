"""Cancelling and resuming auto-renewal, and the Stripe Customer Portal (Stripe faked at the gateway)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.fixtures import csrf_token
from tests.members_area.factories import sign_in


class FakeGateway:
    class GatewayError(Exception):
        user_message = "Stripe is not answering. Please try again."

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.fail = False

    def set_cancel_at_period_end(self, sub_id, flag, *, idempotency_key):  # type: ignore[no-untyped-def]
        if self.fail:
            raise self.GatewayError("down")
        self.calls.append(("cancel_at_period_end", sub_id, flag, idempotency_key))

    def create_portal_session(self, customer_id, return_url):  # type: ignore[no-untyped-def]
        if self.fail:
            raise self.GatewayError("down")
        self.calls.append(("portal", customer_id, return_url))
        return "https://billing.example/session/1"


@pytest.fixture
def gateway(monkeypatch):  # type: ignore[no-untyped-def]
    fake = FakeGateway()
    monkeypatch.setattr("crm.members_area.services._gateway", lambda: fake)
    return fake


def _membership(user) -> Membership:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return db.session.scalar(select(Membership).where(Membership.contact_id == user.contact_id))


def test_cancel_auto_renewal_is_confirmed_then_effective_at_period_end(client, active_member, gateway):
    sign_in(client, active_member)
    confirm = client.get("/account/auto-renew/cancel").get_data(as_text=True)
    assert "Cancel auto-renewal?" in confirm
    assert "paid for.You" not in confirm and "paid for. You can" in confirm
    token = csrf_token(client, "/account/auto-renew/cancel")
    response = client.post("/account/auto-renew/cancel", data={"csrf_token": token})
    assert response.status_code == 302
    membership = _membership(active_member)
    assert membership.auto_renew is False
    assert membership.status == "active"
    assert gateway.calls[0][:3] == ("cancel_at_period_end", "sub_ana", True)
    assert gateway.calls[0][3]
    email = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "cancellation_confirmed"))
    assert email.to_email == "ana@example.org"
    assert "will not renew" in email.subject
    html = client.get("/account").get_data(as_text=True)
    assert "Ends on" in html
    assert "Turn auto-renewal back on" in html


def test_cancelling_twice_calls_stripe_once_and_sends_one_email(client, active_member, gateway):
    sign_in(client, active_member)
    token = csrf_token(client, "/account/auto-renew/cancel")
    client.post("/account/auto-renew/cancel", data={"csrf_token": token})
    client.post("/account/auto-renew/cancel", data={"csrf_token": token})
    assert len(gateway.calls) == 1
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1


def test_auto_renewal_can_be_turned_back_on(client, active_member, gateway):
    sign_in(client, active_member)
    token = csrf_token(client, "/account/auto-renew/cancel")
    client.post("/account/auto-renew/cancel", data={"csrf_token": token})
    response = client.post("/account/auto-renew/resume", data={"csrf_token": token})
    assert response.status_code == 302
    assert _membership(active_member).auto_renew is True
    assert gateway.calls[1][:3] == ("cancel_at_period_end", "sub_ana", False)
    assert gateway.calls[0][3] != gateway.calls[1][3]


def test_stripe_failure_changes_nothing_and_says_so(client, active_member, gateway):
    gateway.fail = True
    sign_in(client, active_member)
    token = csrf_token(client, "/account/auto-renew/cancel")
    response = client.post("/account/auto-renew/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "Stripe is not answering" in response.get_data(as_text=True)
    assert _membership(active_member).auto_renew is True
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_manage_card_redirects_to_the_stripe_portal(client, active_member, gateway):
    sign_in(client, active_member)
    token = csrf_token(client, "/account")
    response = client.post("/account/billing-portal", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "https://billing.example/session/1"
    assert gateway.calls == [("portal", "cus_ana", "http://crm.test/account")]


def test_manage_card_without_a_stripe_customer_explains(client, lapsed_member, gateway):
    sign_in(client, lapsed_member)
    token = csrf_token(client, "/account")
    response = client.post("/account/billing-portal", data={"csrf_token": token}, follow_redirects=True)
    assert "no card on file" in response.get_data(as_text=True)
    assert gateway.calls == []


def test_lapsed_member_cannot_cancel_auto_renewal(client, lapsed_member, gateway):
    sign_in(client, lapsed_member)
    response = client.get("/account/auto-renew/cancel")
    assert response.status_code == 302
    assert gateway.calls == []
