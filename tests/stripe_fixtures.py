"""Pytest plugin: the Stripe sandbox for tests (loaded from tests/conftest.py).

Use it like this:

    from tests.stripe_fixtures import deliver_webhooks

    def test_paying_makes_a_member(client, stripe_sandbox):
        ...                                   # POST /join: the app creates a Checkout Session
        stripe_sandbox.pay(session_id)        # the supporter presses Pay on the hosted page
        responses = deliver_webhooks(client)  # Stripe sends the queued events, signed
        assert all(r.status_code == 200 for r in responses)

`stripe_sandbox` (function scope) empties the sandbox and points the test app at it
(`STRIPE_API_BASE`); it is the `Sandbox` object with the controls pay, decline, expire, renew,
fail_renewal, give_up, refund, dispute, set_cancel_at_period_end, fail_next, events(),
take_events(), object(id), find(kind, **fields). Webhooks are queued ("manual" delivery) until
`deliver_webhooks` sends them. Tests that use the app without `stripe_sandbox` get a Stripe
address that refuses connections, so no test can reach a developer's running sandbox or Stripe.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from config import SANDBOX_API_BASE, SANDBOX_SECRET_KEY, SANDBOX_WEBHOOK_SECRET
from devtools.stripe_sandbox.sandbox import Sandbox
from devtools.stripe_sandbox.server import SandboxServer, serve_in_thread
from devtools.stripe_sandbox.webhooks import event_payload, signature_header

#: Where apps without the sandbox fixture send Stripe calls: a closed port (connection refused).
UNREACHABLE_API_BASE = "http://127.0.0.1:9"
WEBHOOK_PATH = "/stripe/webhook"

_current: dict[str, Sandbox] = {}


@pytest.fixture(scope="session")
def stripe_sandbox_server() -> Iterator[SandboxServer]:
    server = serve_in_thread(
        port=0,
        delivery="manual",
        webhook_secret=SANDBOX_WEBHOOK_SECRET,
        secret_key=SANDBOX_SECRET_KEY,
    )
    yield server
    server.stop()


@pytest.fixture
def stripe_sandbox(stripe_sandbox_server: SandboxServer, app: Any) -> Iterator[Sandbox]:
    """An empty sandbox the test app talks to (its webhooks wait for `deliver_webhooks`)."""
    from crm.billing import stripe_gateway

    sandbox = stripe_sandbox_server.sandbox
    sandbox.reset()
    app.config["STRIPE_API_BASE"] = stripe_sandbox_server.url
    app.config["STRIPE_SECRET_KEY"] = SANDBOX_SECRET_KEY
    app.config["STRIPE_MAX_NETWORK_RETRIES"] = 0
    stripe_gateway.reset_client(app)
    _current["sandbox"] = sandbox
    yield sandbox
    _current.pop("sandbox", None)
    stripe_gateway.reset_client(app)
    sandbox.reset()


@pytest.fixture(autouse=True)
def _no_stray_stripe_calls(request: pytest.FixtureRequest) -> None:
    """Apps in tests never talk to the development sandbox address or to Stripe by accident."""
    if "app" not in request.fixturenames or "stripe_sandbox" in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    base = (app.config.get("STRIPE_API_BASE") or "").rstrip("/")
    if base in ("", SANDBOX_API_BASE):
        app.config["STRIPE_API_BASE"] = UNREACHABLE_API_BASE
        app.config["STRIPE_MAX_NETWORK_RETRIES"] = 0


def signed_headers(payload: str | bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers for POSTing `payload` to the webhook, signed as Stripe signs (`timestamp` to age it)."""
    return {
        "Stripe-Signature": signature_header(payload, secret, timestamp),
        "Content-Type": "application/json",
    }


def post_event(
    client: FlaskClient,
    event: dict[str, Any],
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    payload: str | None = None,
) -> Any:
    """POST one event to /stripe/webhook, signed with the app's secret (or `secret`)."""
    secret = secret if secret is not None else client.application.config["STRIPE_WEBHOOK_SECRET"]
    body = payload if payload is not None else event_payload(event)
    return client.post(WEBHOOK_PATH, data=body, headers=signed_headers(body, secret, timestamp))


def deliver_webhooks(
    client: FlaskClient,
    events: list[dict[str, Any]] | None = None,
    *,
    duplicate: bool = False,
    shuffle: bool | int = False,
) -> list[Any]:
    """Send events to the app as Stripe would: the sandbox's queued ones (taken from the queue)
    or `events`. `duplicate` sends each twice in a row; `shuffle` (True or a seed) mixes the order."""
    if events is None:
        sandbox = _current.get("sandbox")
        if sandbox is None:
            raise RuntimeError("deliver_webhooks needs the stripe_sandbox fixture (or pass events=)")
        events = sandbox.take_events()
    events = list(events)
    if shuffle is not False:
        random.Random(0 if shuffle is True else int(shuffle)).shuffle(events)  # noqa: S311  (test order)
    responses = []
    for event in events:
        for _ in range(2 if duplicate else 1):
            responses.append(post_event(client, event))
    return responses


@pytest.fixture
def stripe_webhooks(stripe_sandbox: Sandbox):  # type: ignore[no-untyped-def]
    """`deliver_webhooks` as a fixture, for tests that prefer not to import it."""
    return deliver_webhooks


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def as_json(event: dict[str, Any]) -> str:
    return json.dumps(event)
