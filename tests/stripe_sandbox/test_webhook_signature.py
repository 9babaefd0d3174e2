"""construct_event: only a correctly signed, fresh Stripe event gets through."""

from __future__ import annotations

import json
import time

import pytest

from crm.billing import stripe_gateway as gateway
from devtools.stripe_sandbox.webhooks import signature_header

EVENT = {"id": "evt_1", "object": "event", "type": "invoice.paid", "created": 1,
         "api_version": "2026-10-28.endive", "data": {"object": {"id": "in_1", "object": "invoice"}}}  # fmt: skip


def _payload() -> bytes:
    return json.dumps(EVENT).encode()


def test_a_correctly_signed_event_is_returned(app):
    payload = _payload()
    event = gateway.construct_event(payload, signature_header(payload, app.config["STRIPE_WEBHOOK_SECRET"]))
    assert event.id == "evt_1" and event.type == "invoice.paid"
    assert event.data.object.id == "in_1"
    assert gateway.event_to_dict(event)["data"]["object"] == {"id": "in_1", "object": "invoice"}


@pytest.mark.parametrize(
    "header",
    [None, "", "t=1,v1=deadbeef", "garbage", signature_header(b"{}", "whsec_sandbox")],
    ids=["missing", "empty", "wrong-signature", "unparseable", "other-body"],
)
def test_missing_or_bad_signatures_are_refused(app, header):
    with pytest.raises(gateway.InvalidWebhook):
        gateway.construct_event(_payload(), header)


def test_a_signature_with_another_secret_is_refused(app):
    payload = _payload()
    with pytest.raises(gateway.InvalidWebhook):
        gateway.construct_event(payload, signature_header(payload, "whsec_someone_else"))


def test_a_signature_301_seconds_old_is_refused_and_299_accepted(app):
    payload, secret = _payload(), app.config["STRIPE_WEBHOOK_SECRET"]
    with pytest.raises(gateway.InvalidWebhook):
        gateway.construct_event(payload, signature_header(payload, secret, int(time.time()) - 301))
    assert (
        gateway.construct_event(payload, signature_header(payload, secret, int(time.time()) - 299)).id
        == "evt_1"
    )


def test_a_body_changed_after_signing_is_refused(app):
    payload = _payload()
    header = signature_header(payload, app.config["STRIPE_WEBHOOK_SECRET"])
    with pytest.raises(gateway.InvalidWebhook):
        gateway.construct_event(payload.replace(b"in_1", b"in_2"), header)


def test_a_signed_body_that_is_not_an_event_is_refused(app):
    for payload in (b"not json", b'{"object": "invoice", "id": "in_1"}'):
        with pytest.raises(gateway.InvalidWebhook):
            gateway.construct_event(payload, signature_header(payload, app.config["STRIPE_WEBHOOK_SECRET"]))
