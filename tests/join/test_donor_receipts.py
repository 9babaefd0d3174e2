"""A donor has no account: the receipt says where to find it in a way that works without one."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crm.email.models import OutboxMessage
from crm.extensions import db
from tests.stripe_fixtures import deliver_webhooks

DONOR = {"amount": "25", "first_name": "Dee", "last_name": "Donor", "email": "dee@example.org"}


@pytest.fixture
def donated(client, app, stripe_sandbox):  # type: ignore[no-untyped-def]
    client.get("/donate")
    assert client.post("/donate", data=DONOR).status_code == 303
    session = stripe_sandbox.find("checkout.session")[0]
    stripe_sandbox.pay(session["id"])
    deliver_webhooks(client)
    db.session.expire_all()
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))


def _link(body: str) -> str:
    found = re.search(r"http://crm\.test(/account/receipts/view/\S+)", body)
    assert found, body
    return found.group(1)


def test_a_donors_receipt_email_links_to_a_receipt_that_opens_without_an_account(app, donated):
    assert "your account" not in donated.body_text  # a donor has none
    page = app.test_client().get(_link(donated.body_text))  # a fresh browser, nobody signed in
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Receipt" in html and "£25.00" in html and "Dee Donor" in html
    assert "Back to my account" not in html


def test_a_receipt_link_cannot_be_forged_or_changed(app, client, donated):
    link = _link(donated.body_text)
    assert client.get(link[:-3] + "abc").status_code == 404
    assert client.get("/account/receipts/view/eyJwIjoxfQ").status_code == 404  # unsigned {"p": 1}


@pytest.mark.parametrize("path", ["/login/link", "/password/reset"])
def test_a_donor_asking_to_sign_in_gets_their_receipts_not_silence(client, donated, path):
    response = client.post(path, data={"email": "dee@example.org"})
    assert response.status_code == 200
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt_links"))
    assert message is not None and message.to_email == "dee@example.org"
    assert "There is no account" in message.body_text
    assert client.get(_link(message.body_text)).status_code == 200


def test_an_unknown_email_asking_to_sign_in_gets_nothing(client, donated):
    client.post("/login/link", data={"email": "nobody@example.org"})
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt_links")) is None
