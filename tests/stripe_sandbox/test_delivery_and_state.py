"""Auto delivery (signed POSTs, retried like Stripe) and the optional state file."""

from __future__ import annotations

import threading
import time

import stripe
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devtools.stripe_sandbox import webhooks
from devtools.stripe_sandbox.server import serve_in_thread


class _Receiver:
    """A webhook endpoint that fails its first `failures` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[bytes, str]] = []
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/stripe/webhook"

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        self.received.append((request.get_data(), request.headers.get("Stripe-Signature", "")))
        status = 500 if len(self.received) <= self.failures else 200
        return Response("", status=status)(environ, start_response)


def _wait_for(condition, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_auto_delivery_signs_events_and_retries_a_failed_delivery(monkeypatch):
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", (0.05, 0.05))
    receiver = _Receiver(failures=1)
    server = serve_in_thread(webhook_url=receiver.url, webhook_secret="whsec_test_auto", delivery="auto")
    try:
        client = stripe.StripeClient(
            "sk_test_sandbox", base_addresses={"api": server.url}, max_network_retries=0
        )
        customer = client.v1.customers.create({"email": "a@example.org"})
        assert _wait_for(lambda: len(receiver.received) >= 2)
        first, second = receiver.received[:2]
        assert first[0] == second[0]  # the same event, delivered again after the failure
        event = stripe.Webhook.construct_event(second[0], second[1], "whsec_test_auto")
        assert event.type == "customer.created" and event.data.object.id == customer.id
    finally:
        server.stop()
        receiver.server.shutdown()


def test_state_file_keeps_objects_across_restarts(tmp_path):
    path = tmp_path / "sandbox.json"
    server = serve_in_thread(state_file=path, delivery="manual")
    client = stripe.StripeClient("sk_test_sandbox", base_addresses={"api": server.url}, max_network_retries=0)
    customer = client.v1.customers.create({"email": "a@example.org"}, {"idempotency_key": "once"})
    server.stop()
    again = serve_in_thread(state_file=path, delivery="manual")
    try:
        client = stripe.StripeClient(
            "sk_test_sandbox", base_addresses={"api": again.url}, max_network_retries=0
        )
        assert client.v1.customers.retrieve(customer.id).email == "a@example.org"
        replay = client.v1.customers.create({"email": "a@example.org"}, {"idempotency_key": "once"})
        assert replay.id == customer.id
        assert len(again.sandbox.find("customer")) == 1
    finally:
        again.stop()
