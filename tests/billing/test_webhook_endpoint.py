"""POST /stripe/webhook: authenticity, once-only processing, rollback on failure."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from crm.billing import webhook
from crm.billing.models import ProcessedStripeEvent
from crm.extensions import db
from tests.stripe_fixtures import post_event, signed_headers


def event(event_id: str = "evt_test_1", event_type: str = "customer.created") -> dict:  # type: ignore[type-arg]
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "api_version": "2026-10-28.endive",
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": {"id": "cus_x", "object": "customer"}},
    }


def processed() -> int:
    return db.session.scalar(select(func.count()).select_from(ProcessedStripeEvent)) or 0


def test_missing_signature_is_refused_and_stores_nothing(client):
    response = client.post("/stripe/webhook", data=json.dumps(event()), content_type="application/json")
    assert response.status_code == 400
    assert processed() == 0


def test_wrong_secret_is_refused(client):
    assert post_event(client, event(), secret="whsec_wrong").status_code == 400
    assert processed() == 0


def test_stale_signature_is_refused(client):
    assert post_event(client, event(), timestamp=int(time.time()) - 301).status_code == 400
    assert processed() == 0


def test_body_changed_after_signing_is_refused(client):
    body = json.dumps(event())
    headers = signed_headers(body, client.application.config["STRIPE_WEBHOOK_SECRET"])
    tampered = body.replace("cus_x", "cus_y")
    assert client.post("/stripe/webhook", data=tampered, headers=headers).status_code == 400
    assert processed() == 0


def test_webhook_needs_no_csrf_token(app):
    app.config["WTF_CSRF_ENABLED"] = True
    assert post_event(app.test_client(), event()).status_code == 200


def test_unhandled_event_type_gets_200_and_is_recorded_once(client):
    first = post_event(client, event())
    second = post_event(client, event())
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.get_json()["result"] == "unhandled"
    assert second.get_json()["result"] == "duplicate"
    assert processed() == 1


def test_an_exception_mid_event_rolls_back_and_a_retry_succeeds(client, monkeypatch):
    calls = {"n": 0}

    def flaky(evt):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        db.session.add(ProcessedStripeEvent(id="evt_side_effect", type="x", created=0))
        db.session.flush()
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return "ok"

    monkeypatch.setitem(webhook.HANDLERS, "customer.created", flaky)
    assert post_event(client, event()).status_code == 500
    db.session.rollback()
    assert processed() == 0  # neither the event id nor the handler's write survived
    response = post_event(client, event())
    assert response.status_code == 200 and response.get_json()["result"] == "ok"
    assert processed() == 2


@pytest.mark.parametrize("body", ["not json", "{}", json.dumps({"object": "list"})])
def test_signed_garbage_is_refused(client, body):
    headers = signed_headers(body, client.application.config["STRIPE_WEBHOOK_SECRET"])
    assert client.post("/stripe/webhook", data=body, headers=headers).status_code == 400
